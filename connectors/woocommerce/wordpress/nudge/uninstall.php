<?php
/**
 * Removing the plugin removes its settings (the webhook secret with them). Orders keep
 * their meta: it is part of their history.
 *
 * @package Nudge
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'nudge_settings' );
