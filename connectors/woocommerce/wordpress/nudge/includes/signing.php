<?php
/**
 * How the plugin signs what it posts to Nudge: exactly as WooCommerce signs a webhook
 * delivery (WC_Webhook::generate_signature), so Nudge checks both the same way.
 *
 * Plain PHP, no WordPress: Nudge's test suite runs these functions with `php` and checks
 * the result against Nudge's own verifier.
 *
 * @package Nudge
 */

defined( 'NUDGE_SIGNING_STANDALONE' ) || defined( 'ABSPATH' ) || exit;

/**
 * The X-WC-Webhook-Signature of a body: base64 of its HMAC-SHA256 with the shop's secret.
 *
 * @param string $body   The exact bytes sent.
 * @param string $secret The shop's webhook secret.
 * @return string
 */
function nudge_signature( $body, $secret ) {
	return base64_encode( hash_hmac( 'sha256', $body, $secret, true ) );
}

/**
 * A cart update as it is sent: the JSON body and the headers WooCommerce's own webhooks carry.
 *
 * @param array  $cart   The cart (see Nudge_Carts::cart_body).
 * @param string $secret The shop's webhook secret.
 * @param string $source The shop's home URL (X-WC-Webhook-Source).
 * @return array{body: string, headers: array<string, string>}
 */
function nudge_cart_request( array $cart, $secret, $source ) {
	$body = json_encode( $cart, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE );
	return array(
		'body'    => $body,
		'headers' => array(
			'Content-Type'             => 'application/json',
			'X-WC-Webhook-Source'      => $source,
			'X-WC-Webhook-Topic'       => 'nudge.cart_updated',
			'X-WC-Webhook-Resource'    => 'nudge',
			'X-WC-Webhook-Event'       => 'cart_updated',
			// the same body twice is the same delivery: Nudge keeps it once
			'X-WC-Webhook-Delivery-ID' => hash( 'sha256', $body ),
			'X-WC-Webhook-Signature'   => nudge_signature( $body, $secret ),
		),
	);
}

/**
 * The name Nudge knows a store by, from its home URL (what WooCommerce sends as
 * X-WC-Webhook-Source): the host in lower case, then the path without its slashes at either
 * end, for a store below the root of its host ("https://Example.com/shop/" is
 * "example.com/shop"). Nudge makes the same (connectors/woocommerce/stores.py).
 *
 * @param string $home_url The site's home URL.
 * @return string
 */
function nudge_store_key( $home_url ) {
	$host     = strtolower( (string) parse_url( $home_url, PHP_URL_HOST ) );
	$segments = array_filter( explode( '/', (string) parse_url( $home_url, PHP_URL_PATH ) ), 'strlen' );
	return implode( '/', array_merge( array( $host ), $segments ) );
}

/**
 * The signature of a link into Nudge's settings page for the shop, valid until $expires
 * (a Unix time): base64url of the HMAC-SHA256 of "settings\n{store}\n{expires}".
 *
 * @param string $host    The shop's name as Nudge knows it (nudge_store_key).
 * @param int    $expires When the link stops working.
 * @param string $secret  The shop's webhook secret.
 * @return string
 */
function nudge_settings_signature( $host, $expires, $secret ) {
	$digest = hash_hmac( 'sha256', "settings\n" . $host . "\n" . $expires, $secret, true );
	return rtrim( strtr( base64_encode( $digest ), '+/', '-_' ), '=' );
}
