<?php
/**
 * Removing the plugin removes its settings (the webhook secret with them), the carts it kept
 * for their recovery links, the store's webhooks that deliver to Nudge and the REST API keys
 * WooCommerce granted Nudge. Orders keep their meta: it is part of their history.
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

// The key pairs WooCommerce granted Nudge ("Nudge - API (date)"): without them Nudge can no
// longer read or change the store.
global $wpdb;
$nudge_keys = $wpdb->prefix . 'woocommerce_api_keys';
// phpcs:disable WordPress.DB.DirectDatabaseQuery,WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- WooCommerce's own table, as its "Revoke" does
if ( $wpdb->get_var( $wpdb->prepare( 'SHOW TABLES LIKE %s', $wpdb->esc_like( $nudge_keys ) ) ) === $nudge_keys ) {
	$wpdb->query( $wpdb->prepare( "DELETE FROM {$nudge_keys} WHERE description LIKE %s", $wpdb->esc_like( 'Nudge - API' ) . '%' ) );
}
// phpcs:enable

// The carts kept for their recovery links (Nudge_Carts): they would expire, but nothing
// reads them any more.
// phpcs:ignore WordPress.DB.DirectDatabaseQuery -- one cleanup, no cache to keep
$wpdb->query(
	$wpdb->prepare(
		"DELETE FROM {$wpdb->options} WHERE option_name LIKE %s OR option_name LIKE %s",
		$wpdb->esc_like( '_transient_nudge_cart_' ) . '%',
		$wpdb->esc_like( '_transient_timeout_nudge_cart_' ) . '%'
	)
);
