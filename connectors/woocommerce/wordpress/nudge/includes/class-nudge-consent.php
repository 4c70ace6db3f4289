<?php
/**
 * The marketing opt-in box at checkout, classic and block, written to the order as meta
 * `_nudge_accepts_marketing` (`yes` / `no`): WooCommerce has no consent field of its own.
 *
 * The box starts empty for a guest; a signed-in customer sees it as they left it last
 * time (user meta), so leaving it empty is their answer too.
 *
 * @package Nudge
 */

defined( 'ABSPATH' ) || exit;

/**
 * The checkout's opt-in.
 */
class Nudge_Consent {

	const META       = '_nudge_accepts_marketing';
	const FIELD      = 'nudge_accepts_marketing';
	const BLOCK_ID   = 'nudge/accepts-marketing';
	const SESSION    = 'nudge_accepts_marketing';
	const SCRIPT     = 'nudge-block-consent';

	/**
	 * Hook the box into both checkouts.
	 */
	public static function init() {
		// classic checkout (the [woocommerce_checkout] shortcode)
		add_action( 'woocommerce_review_order_before_submit', array( __CLASS__, 'classic_box' ) );
		add_action( 'woocommerce_checkout_create_order', array( __CLASS__, 'classic_order' ), 10, 2 );
		// block checkout: the Additional Checkout Fields API (WooCommerce 8.9+)
		add_action( 'woocommerce_init', array( __CLASS__, 'register_block_field' ) );
		add_action( 'woocommerce_store_api_checkout_update_order_from_request', array( __CLASS__, 'block_order' ), 10, 2 );
		// ... whose contact fields reach the server only with the order: the box's state is
		// sent to the cart as the shopper changes it (assets/block-consent.js)
		add_action( 'init', array( __CLASS__, 'register_block_update' ) );
		add_action( 'wp_enqueue_scripts', array( __CLASS__, 'block_script' ) );
	}

	/**
	 * `POST /wc/store/v1/cart/extensions` with namespace `nudge`: the block checkout's box as
	 * the shopper ticks or unticks it, kept for the cart (a cart left afterwards carries it).
	 */
	public static function register_block_update() {
		if ( ! function_exists( 'woocommerce_store_api_register_update_callback' ) ) {
			return;
		}
		woocommerce_store_api_register_update_callback(
			array(
				'namespace' => 'nudge',
				'callback'  => array( __CLASS__, 'block_box' ),
			)
		);
	}

	/**
	 * The box's state, sent by the block checkout's script.
	 *
	 * @param array $data `accepts_marketing`: whether it is ticked.
	 */
	public static function block_box( $data ) {
		self::remember( is_array( $data ) && ! empty( $data['accepts_marketing'] ) );
		Nudge_Carts::changed();
	}

	/**
	 * The script that reports the box, on a checkout page with the Checkout block.
	 */
	public static function block_script() {
		if ( ! function_exists( 'is_checkout' ) || ! is_checkout() || ! has_block( 'woocommerce/checkout' ) ) {
			return;
		}
		wp_enqueue_script(
			self::SCRIPT,
			plugins_url( 'assets/block-consent.js', NUDGE_PLUGIN_FILE ),
			array( 'wc-blocks-checkout' ),
			'1.0.0',
			array( 'in_footer' => true )
		);
	}

	/**
	 * The shopper's current answer: what they ticked in this session, else (signed in) what
	 * they said last time.
	 *
	 * @return bool
	 */
	public static function current() {
		if ( function_exists( 'WC' ) && WC()->session ) {
			$said = WC()->session->get( self::SESSION );
			if ( null !== $said ) {
				return 'yes' === $said;
			}
		}
		return is_user_logged_in() && 'yes' === get_user_meta( get_current_user_id(), self::META, true );
	}

	/**
	 * Remember an answer typed at checkout (before the order exists: for the cart).
	 *
	 * @param bool $accepts The box's state.
	 */
	public static function remember( $accepts ) {
		if ( function_exists( 'WC' ) && WC()->session ) {
			WC()->session->set( self::SESSION, $accepts ? 'yes' : 'no' );
		}
	}

	/**
	 * The box, above the classic checkout's "Place order".
	 */
	public static function classic_box() {
		woocommerce_form_field(
			self::FIELD,
			array(
				'type'  => 'checkbox',
				// update_totals_on_change: WooCommerce's checkout script sends the form again
				// when it changes, so a box ticked last, after the address, reaches the cart
				'class' => array( 'form-row', 'nudge-opt-in', 'update_totals_on_change' ),
				'label' => esc_html( Nudge_Settings::opt_in_label() ),
			),
			self::current() ? 1 : 0
		);
	}

	/**
	 * Write the classic checkout's answer on the order (its nonce is checked by WooCommerce).
	 *
	 * @param WC_Order $order The order being created.
	 * @param array    $data  The posted checkout data.
	 */
	public static function classic_order( $order, $data ) {
		// phpcs:ignore WordPress.Security.NonceVerification.Missing -- WC_Checkout verified it
		self::write( $order, ! empty( $_POST[ self::FIELD ] ) );
	}

	/**
	 * The box in the block checkout, in the contact section (kept with the customer too,
	 * so a signed-in customer finds it as they left it).
	 */
	public static function register_block_field() {
		if ( ! function_exists( 'woocommerce_register_additional_checkout_field' ) ) {
			return;
		}
		woocommerce_register_additional_checkout_field(
			array(
				'id'       => self::BLOCK_ID,
				'label'    => Nudge_Settings::opt_in_label(),
				'location' => 'contact',
				'type'     => 'checkbox',
			)
		);
	}

	/**
	 * Write the block checkout's answer on the order.
	 *
	 * @param WC_Order        $order   The order being placed.
	 * @param WP_REST_Request $request The Store API checkout request.
	 */
	public static function block_order( $order, $request ) {
		$fields = $request->get_param( 'additional_fields' );
		$value  = is_array( $fields ) && isset( $fields[ self::BLOCK_ID ] ) ? $fields[ self::BLOCK_ID ] : false;
		self::write( $order, true === $value || 'true' === $value || '1' === $value || 1 === $value );
	}

	/**
	 * The order meta, and the signed-in customer's last answer.
	 *
	 * @param WC_Order $order   The order.
	 * @param bool     $accepts The box's state.
	 */
	public static function write( $order, $accepts ) {
		$value = $accepts ? 'yes' : 'no';
		$order->update_meta_data( self::META, $value );
		self::remember( $accepts );
		$user_id = $order->get_customer_id();
		if ( $user_id ) {
			update_user_meta( $user_id, self::META, $value );
		}
	}
}
