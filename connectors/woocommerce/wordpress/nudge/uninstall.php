<?php
/**
 * Removing the plugin removes its settings (the webhook secret with them) and the store's
 * webhooks that deliver to Nudge. Orders keep their meta: it is part of their history.
 *
 * @package Nudge
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

$nudge_settings = get_option( 'nudge_settings', array() );
$nudge_app_url  = is_array( $nudge_settings ) && ! empty( $nudge_settings['app_url'] ) ? untrailingslashit( $nudge_settings['app_url'] ) : '';

if ( '' !== $nudge_app_url && function_exists( 'wc_get_webhook' ) && class_exists( 'WC_Data_Store' ) ) {
	$nudge_prefix = $nudge_app_url . '/webhooks/woocommerce/';
	foreach ( WC_Data_Store::load( 'webhook' )->get_webhooks_ids() as $nudge_webhook_id ) {
		$nudge_webhook = wc_get_webhook( $nudge_webhook_id );
		if ( $nudge_webhook && 0 === strpos( $nudge_webhook->get_delivery_url(), $nudge_prefix ) ) {
			$nudge_webhook->delete( true );
		}
	}
}

delete_option( 'nudge_settings' );
