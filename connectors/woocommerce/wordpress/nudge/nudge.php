<?php
/**
 * Plugin Name:          Nudge for WooCommerce
 * Description:          Connects the store to Nudge: a marketing opt-in at checkout, carts left with an address, and Nudge's storefront script.
 * Version:              1.0.0
 * Requires at least:    6.4
 * Requires PHP:         7.4
 * Requires Plugins:     woocommerce
 * WC requires at least: 8.9
 * License:              GPL-2.0-or-later
 * Text Domain:          nudge
 *
 * @package Nudge
 */

defined( 'ABSPATH' ) || exit;

define( 'NUDGE_PLUGIN_FILE', __FILE__ );

require_once __DIR__ . '/includes/signing.php';
require_once __DIR__ . '/includes/class-nudge-settings.php';
require_once __DIR__ . '/includes/class-nudge-consent.php';
require_once __DIR__ . '/includes/class-nudge-carts.php';
require_once __DIR__ . '/includes/class-nudge-storefront.php';

// Orders may live in WooCommerce's own tables (HPOS): the plugin only uses the order API.
add_action(
	'before_woocommerce_init',
	static function () {
		if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', __FILE__, true );
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'cart_checkout_blocks', __FILE__, true );
		}
	}
);

Nudge_Settings::init();
Nudge_Consent::init();
Nudge_Carts::init();
Nudge_Storefront::init();
