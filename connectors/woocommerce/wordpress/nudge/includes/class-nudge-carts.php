<?php
/**
 * Carts left with an address: posted to Nudge as topic `nudge.cart_updated`, signed like a
 * WooCommerce webhook; the order placed from a cart carries its key as meta `_nudge_cart_key`.
 *
 * WooCommerce sends no cart webhooks. A cart is posted once per request that changed it
 * (at shutdown, without waiting for Nudge's answer), and only for a shopper whose address
 * is known: signed in, or typed at checkout. Its `checkout_url` restores that cart in any
 * browser (the link in Nudge's reminder); the items are kept for it as a transient.
 *
 * @package Nudge
 */

defined( 'ABSPATH' ) || exit;

/**
 * Cart capture and restore.
 */
class Nudge_Carts {

	const META          = '_nudge_cart_key';
	const QUERY         = 'nudge_cart';
	const SESSION_KEY   = 'nudge_cart_key';
	const SESSION_EMAIL = 'nudge_email';
	const SESSION_SENT  = 'nudge_cart_sent';
	const KEEP_DAYS     = 30;

	/**
	 * Whether this request changed the cart (or what is known of its shopper).
	 *
	 * @var bool
	 */
	private static $changed = false;

	/**
	 * Hook in.
	 */
	public static function init() {
		add_action( 'woocommerce_cart_updated', array( __CLASS__, 'changed' ) );
		add_action( 'woocommerce_checkout_update_order_review', array( __CLASS__, 'classic_review' ) );
		add_action( 'woocommerce_store_api_cart_update_customer_from_request', array( __CLASS__, 'block_customer' ), 10, 2 );
		add_action( 'woocommerce_checkout_create_order', array( __CLASS__, 'tag_order' ), 20 );
		add_action( 'woocommerce_store_api_checkout_update_order_from_request', array( __CLASS__, 'tag_order' ), 20 );
		add_action( 'woocommerce_checkout_order_processed', array( __CLASS__, 'ordered' ), 20 );
		add_action( 'woocommerce_store_api_checkout_order_processed', array( __CLASS__, 'ordered' ), 20 );
		add_action( 'wp_loaded', array( __CLASS__, 'restore' ), 20 );
		add_action( 'shutdown', array( __CLASS__, 'flush' ) );
	}

	/**
	 * The cart changed: post it when the request ends.
	 */
	public static function changed() {
		self::$changed = true;
	}

	/**
	 * The classic checkout's form as the shopper types (address, opt-in box).
	 *
	 * @param string $posted The serialized checkout form.
	 */
	public static function classic_review( $posted ) {
		$fields = array();
		parse_str( (string) $posted, $fields );
		if ( isset( $fields['billing_email'] ) ) {
			self::remember_email( (string) $fields['billing_email'] );
		}
		Nudge_Consent::remember( ! empty( $fields[ Nudge_Consent::FIELD ] ) );
		self::$changed = true;
	}

	/**
	 * The block checkout's contact details as the shopper types them.
	 *
	 * @param WC_Customer     $customer The session's customer.
	 * @param WP_REST_Request $request  The Store API request.
	 */
	public static function block_customer( $customer, $request ) {
		$billing = $request->get_param( 'billing_address' );
		$email   = is_array( $billing ) && isset( $billing['email'] ) ? (string) $billing['email'] : $customer->get_billing_email();
		self::remember_email( $email );
		$fields = $request->get_param( 'additional_fields' );
		if ( is_array( $fields ) && array_key_exists( Nudge_Consent::BLOCK_ID, $fields ) ) {
			Nudge_Consent::remember( (bool) $fields[ Nudge_Consent::BLOCK_ID ] );
		}
		self::$changed = true;
	}

	/**
	 * Keep a typed address for this session's cart.
	 *
	 * @param string $email What the shopper typed.
	 */
	private static function remember_email( $email ) {
		$email = sanitize_email( $email );
		if ( is_email( $email ) && WC()->session ) {
			WC()->session->set( self::SESSION_EMAIL, $email );
		}
	}

	/**
	 * The shopper's address, when known.
	 *
	 * @return string
	 */
	private static function email() {
		if ( is_user_logged_in() ) {
			return (string) wp_get_current_user()->user_email;
		}
		$typed = WC()->session ? (string) WC()->session->get( self::SESSION_EMAIL ) : '';
		if ( '' !== $typed ) {
			return $typed;
		}
		return WC()->customer ? (string) WC()->customer->get_billing_email() : '';
	}

	/**
	 * This session's cart key, made on first use (random: the key alone restores the cart).
	 *
	 * @return string
	 */
	public static function key() {
		$key = (string) WC()->session->get( self::SESSION_KEY );
		if ( ! preg_match( '/^[a-f0-9]{32}$/', $key ) ) {
			$key = bin2hex( random_bytes( 16 ) );
			WC()->session->set( self::SESSION_KEY, $key );
		}
		return $key;
	}

	/**
	 * The order placed from this cart carries its key.
	 *
	 * @param WC_Order $order The order being created.
	 */
	public static function tag_order( $order ) {
		if ( WC()->session && WC()->session->get( self::SESSION_KEY ) ) {
			$order->update_meta_data( self::META, (string) WC()->session->get( self::SESSION_KEY ) );
		}
	}

	/**
	 * The cart became an order: say so, and start a new cart key for what comes next.
	 */
	public static function ordered() {
		if ( ! WC()->session || ! WC()->session->get( self::SESSION_KEY ) ) {
			return;
		}
		self::send( self::body( true ) );
		WC()->session->set( self::SESSION_KEY, null );
		WC()->session->set( self::SESSION_SENT, null );
		self::$changed = false;
	}

	/**
	 * Post the cart if this request changed it and its shopper has an address.
	 */
	public static function flush() {
		if ( ! self::$changed || ! Nudge_Settings::connected() || ! function_exists( 'WC' ) ) {
			return;
		}
		if ( ! WC()->session || ! WC()->cart || '' === self::email() ) {
			return;
		}
		$empty = WC()->cart->is_empty();
		if ( $empty && ! WC()->session->get( self::SESSION_SENT ) ) {
			return; // nothing was ever posted for it: an empty cart says nothing
		}
		self::send( self::body( false ) );
	}

	/**
	 * The cart as Nudge reads it (connectors/woocommerce/carts.py), and its items kept for
	 * the restore link.
	 *
	 * @param bool $completed Whether it became an order.
	 * @return array
	 */
	private static function body( $completed ) {
		$key      = self::key();
		$items    = array();
		$restore  = array();
		$decimals = wc_get_price_decimals();
		foreach ( WC()->cart->get_cart() as $line ) {
			$quantity = max( 1, (int) $line['quantity'] );
			$items[]  = array(
				'product_id'   => (int) $line['product_id'],
				'variation_id' => (int) $line['variation_id'],
				'name'         => $line['data'] ? $line['data']->get_name() : '',
				'quantity'     => $quantity,
				'price'        => wc_format_decimal( $line['line_subtotal'] / $quantity, $decimals ),
			);
			$restore[] = array( (int) $line['product_id'], $quantity, (int) $line['variation_id'], (array) $line['variation'] );
		}
		set_transient( 'nudge_cart_' . $key, $restore, self::KEEP_DAYS * DAY_IN_SECONDS );
		$user = wp_get_current_user();
		return array(
			'cart_key'          => $key,
			'email'             => self::email(),
			'accepts_marketing' => Nudge_Consent::current(),
			'customer_id'       => (int) get_current_user_id(),
			'first_name'        => $user->exists() ? (string) $user->first_name : (string) WC()->customer->get_billing_first_name(),
			'currency'          => get_woocommerce_currency(),
			'total'             => wc_format_decimal( WC()->cart->get_total( 'edit' ), $decimals ),
			'items'             => $items,
			'checkout_url'      => add_query_arg( self::QUERY, $key, wc_get_checkout_url() ),
			'updated_at'        => gmdate( 'c' ),
			'completed'         => $completed,
		);
	}

	/**
	 * Sign and post a cart, unless it is what was posted last; never waits for the answer.
	 *
	 * @param array $cart The cart body.
	 */
	private static function send( array $cart ) {
		$unchanged = $cart;
		unset( $unchanged['updated_at'] );
		$fingerprint = md5( wp_json_encode( $unchanged ) );
		if ( WC()->session->get( self::SESSION_SENT ) === $fingerprint ) {
			return;
		}
		WC()->session->set( self::SESSION_SENT, $fingerprint );
		$request = nudge_cart_request( $cart, Nudge_Settings::get( 'webhook_secret' ), home_url( '/' ) );
		wp_remote_post(
			Nudge_Settings::app_url() . '/webhooks/woocommerce/' . Nudge_Settings::shop(),
			array(
				'body'     => $request['body'],
				'headers'  => $request['headers'],
				'timeout'  => 5,
				'blocking' => false,
			)
		);
	}

	/**
	 * `?nudge_cart=KEY` (the reminder's link): put that cart back and go to the checkout.
	 */
	public static function restore() {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- a link from an email; the random key is the proof
		$key = isset( $_GET[ self::QUERY ] ) ? sanitize_text_field( wp_unslash( $_GET[ self::QUERY ] ) ) : '';
		if ( '' === $key || ! function_exists( 'WC' ) || ! WC()->cart ) {
			return;
		}
		$saved = preg_match( '/^[a-f0-9]{32}$/', $key ) ? get_transient( 'nudge_cart_' . $key ) : false;
		if ( is_array( $saved ) ) {
			if ( ! WC()->session->has_session() ) {
				WC()->session->set_customer_session_cookie( true );
			}
			WC()->cart->empty_cart();
			foreach ( $saved as $item ) {
				list( $product_id, $quantity, $variation_id, $variation ) = $item;
				WC()->cart->add_to_cart( $product_id, $quantity, $variation_id, $variation );
			}
			// the same key: the order placed now ends this cart's reminders
			WC()->session->set( self::SESSION_KEY, $key );
		}
		wp_safe_redirect( is_array( $saved ) ? wc_get_checkout_url() : wc_get_cart_url() );
		exit;
	}
}
