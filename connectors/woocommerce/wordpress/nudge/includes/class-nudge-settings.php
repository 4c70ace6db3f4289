<?php
/**
 * The settings screen (WooCommerce › Nudge): where Nudge runs, the shop's webhook secret,
 * the connect button and a link into Nudge's settings page.
 *
 * @package Nudge
 */

defined( 'ABSPATH' ) || exit;

/**
 * The plugin's settings, kept in one option.
 */
class Nudge_Settings {

	const OPTION = 'nudge_settings';
	// How WooCommerce names the key pairs it grants Nudge: "<app name> - API (<date>)"
	const KEY_DESCRIPTION = 'Nudge - API';

	/**
	 * Hook the screen in.
	 */
	public static function init() {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
		add_action( 'admin_init', array( __CLASS__, 'register' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( NUDGE_PLUGIN_FILE ), array( __CLASS__, 'action_links' ) );
		add_action( 'rest_api_init', array( __CLASS__, 'register_route' ) );
		add_action( 'admin_post_nudge_open_settings', array( __CLASS__, 'open_settings' ) );
		add_action( 'admin_notices', array( __CLASS__, 'woocommerce_missing' ) );
	}

	/**
	 * Without WooCommerce there is no checkout to add the box to, no cart to send and no
	 * WooCommerce › Nudge screen: say so to whoever can install plugins. (WordPress 6.5+
	 * reads "Requires Plugins" and refuses to activate the plugin without WooCommerce; this
	 * is for older sites, and for WooCommerce deactivated later.)
	 */
	public static function woocommerce_missing() {
		if ( class_exists( 'WooCommerce' ) || ! current_user_can( 'activate_plugins' ) ) {
			return;
		}
		echo '<div class="notice notice-warning" id="nudge-needs-woocommerce"><p>';
		esc_html_e( 'Nudge for WooCommerce needs WooCommerce: install and activate WooCommerce, then open WooCommerce › Nudge. Until then it does nothing.', 'nudge' );
		echo '</p></div>';
	}

	/**
	 * "Open Nudge settings": a link to Nudge's settings page signed with the shop's secret,
	 * made at the click and good for a minute, for a user who manages WooCommerce.
	 */
	public static function open_settings() {
		if ( ! current_user_can( 'manage_woocommerce' ) ) {
			wp_die( esc_html__( 'You cannot manage this store.', 'nudge' ), 403 );
		}
		check_admin_referer( 'nudge_open_settings' );
		if ( ! self::connected() ) {
			wp_safe_redirect( admin_url( 'admin.php?page=nudge' ) );
			exit;
		}
		$expires = time() + 60;
		$shop    = self::shop();
		$query   = array(
			'store'   => $shop,
			'expires' => $expires,
			'sig'     => nudge_settings_signature( $shop, $expires, self::get( 'webhook_secret' ) ),
		);
		// phpcs:ignore WordPress.Security.SafeRedirect.wp_redirect_wp_redirect -- Nudge is another host on purpose
		wp_redirect( self::app_url() . '/woocommerce/settings?' . http_build_query( $query ) );
		exit;
	}

	/**
	 * `POST /wp-json/wc-nudge/v1/connection`: Nudge, once connected, gives its address and
	 * the webhook secret. WooCommerce authenticates the REST key pair it granted Nudge on
	 * routes under `wc-` namespaces; the key's user must manage WooCommerce.
	 */
	public static function register_route() {
		register_rest_route(
			'wc-nudge/v1',
			'/connection',
			array(
				'methods'             => 'POST',
				'callback'            => array( __CLASS__, 'receive_connection' ),
				'permission_callback' => static function () {
					return current_user_can( 'manage_woocommerce' );
				},
				'args'                => array(
					'app_url'        => array(
						'type'     => 'string',
						'required' => true,
					),
					'webhook_secret' => array(
						'type'     => 'string',
						'required' => true,
					),
				),
			)
		);
	}

	/**
	 * Keep what Nudge sent.
	 *
	 * @param WP_REST_Request $request The request.
	 * @return array
	 */
	public static function receive_connection( $request ) {
		$settings                   = get_option( self::OPTION, array() );
		$settings                   = is_array( $settings ) ? $settings : array();
		$settings['app_url']        = esc_url_raw( (string) $request['app_url'], array( 'https', 'http' ) );
		$settings['webhook_secret'] = (string) $request['webhook_secret'];
		update_option( self::OPTION, $settings );
		self::revoke_older_keys();
		return array( 'connected' => true );
	}

	/**
	 * Each connect makes WooCommerce grant a new key pair ("Nudge - API (date)"); the one
	 * Nudge holds now is the newest. The earlier ones would stay valid, unused, until
	 * revoked by hand (WooCommerce › Settings › Advanced › REST API): revoke them.
	 */
	public static function revoke_older_keys() {
		global $wpdb;
		$table = $wpdb->prefix . 'woocommerce_api_keys';
		$like  = $wpdb->esc_like( self::KEY_DESCRIPTION ) . '%';
		// phpcs:disable WordPress.DB.DirectDatabaseQuery,WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- WooCommerce's own table, as its "Revoke" does
		if ( $wpdb->get_var( $wpdb->prepare( 'SHOW TABLES LIKE %s', $wpdb->esc_like( $table ) ) ) !== $table ) {
			return;
		}
		$newest = (int) $wpdb->get_var( $wpdb->prepare( "SELECT MAX(key_id) FROM {$table} WHERE description LIKE %s", $like ) );
		$wpdb->query( $wpdb->prepare( "DELETE FROM {$table} WHERE description LIKE %s AND key_id < %d", $like, $newest ) );
		// phpcs:enable
	}

	/**
	 * One setting: app_url, webhook_secret, consent_cookie, opt_in_label.
	 *
	 * @param string $name The setting.
	 * @return string
	 */
	public static function get( $name ) {
		$settings = get_option( self::OPTION, array() );
		return is_array( $settings ) && isset( $settings[ $name ] ) ? (string) $settings[ $name ] : '';
	}

	/**
	 * Nudge's base URL, without a trailing slash.
	 *
	 * @return string
	 */
	public static function app_url() {
		return untrailingslashit( self::get( 'app_url' ) );
	}

	/**
	 * The name Nudge knows the shop by: its host, and its path when the site is below the
	 * root of its host ("example.com/shop"). It goes into Nudge's URLs as it is: its
	 * slashes are path separators there too.
	 *
	 * @return string
	 */
	public static function shop() {
		return nudge_store_key( home_url( '/' ) );
	}

	/**
	 * Whether carts can be sent: Nudge's address and the secret are set.
	 *
	 * @return bool
	 */
	public static function connected() {
		return '' !== self::app_url() && '' !== self::get( 'webhook_secret' );
	}

	/**
	 * The label of the checkout's opt-in box.
	 *
	 * @return string
	 */
	public static function opt_in_label() {
		$label = self::get( 'opt_in_label' );
		return '' !== $label ? $label : __( 'Email me news and offers', 'nudge' );
	}

	/**
	 * WooCommerce › Nudge.
	 */
	public static function menu() {
		add_submenu_page( 'woocommerce', 'Nudge', 'Nudge', 'manage_woocommerce', 'nudge', array( __CLASS__, 'render' ) );
	}

	/**
	 * The option, sanitized on save.
	 */
	public static function register() {
		register_setting(
			'nudge',
			self::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( __CLASS__, 'sanitize' ),
			)
		);
	}

	/**
	 * Clean what the form sent; an empty secret field keeps the stored secret.
	 *
	 * @param mixed $input The posted values.
	 * @return array
	 */
	public static function sanitize( $input ) {
		$input  = is_array( $input ) ? $input : array();
		$secret = isset( $input['webhook_secret'] ) ? trim( (string) $input['webhook_secret'] ) : '';
		return array(
			'app_url'        => esc_url_raw( isset( $input['app_url'] ) ? trim( (string) $input['app_url'] ) : '', array( 'https', 'http' ) ),
			'webhook_secret' => '' !== $secret ? $secret : self::get( 'webhook_secret' ),
			'consent_cookie' => sanitize_text_field( isset( $input['consent_cookie'] ) ? (string) $input['consent_cookie'] : '' ),
			'opt_in_label'   => sanitize_text_field( isset( $input['opt_in_label'] ) ? (string) $input['opt_in_label'] : '' ),
		);
	}

	/**
	 * A "Settings" link beside the plugin in the plugins list.
	 *
	 * @param array $links The plugin's links.
	 * @return array
	 */
	public static function action_links( $links ) {
		array_unshift( $links, '<a href="' . esc_url( admin_url( 'admin.php?page=nudge' ) ) . '">' . esc_html__( 'Settings', 'nudge' ) . '</a>' );
		return $links;
	}

	/**
	 * The screen.
	 */
	public static function render() {
		if ( ! current_user_can( 'manage_woocommerce' ) ) {
			return;
		}
		$app_url = self::app_url();
		$shop    = self::shop();
		?>
		<div class="wrap">
			<h1>Nudge</h1>
			<?php // phpcs:ignore WordPress.Security.NonceVerification.Recommended -- only shows a notice ?>
			<?php if ( isset( $_GET['nudge_connected'] ) ) : ?>
				<div class="notice notice-success"><p><?php esc_html_e( 'Connected: Nudge created its webhooks and carts are now sent to it.', 'nudge' ); ?></p></div>
			<?php endif; ?>
			<?php if ( '' === (string) get_option( 'permalink_structure' ) ) : ?>
				<div class="notice notice-warning" id="nudge-plain-permalinks"><p>
					<?php esc_html_e( 'Connecting needs pretty permalinks: with "Plain" ones, WooCommerce\'s approval screen (/wc-auth/v1/authorize) and its REST API (/wp-json/) are not reachable, and connecting ends on your home page.', 'nudge' ); ?>
					<a href="<?php echo esc_url( admin_url( 'options-permalink.php' ) ); ?>"><?php esc_html_e( 'Choose any other structure under Settings › Permalinks.', 'nudge' ); ?></a>
				</p></div>
			<?php endif; ?>
			<?php if ( '' !== $app_url ) : ?>
				<p>
					<a class="button button-primary" href="<?php echo esc_url( $app_url . '/woocommerce/connect?store=' . rawurlencode( home_url( '/' ) ) ); ?>"><?php esc_html_e( 'Connect to Nudge', 'nudge' ); ?></a>
					<?php if ( self::connected() ) : ?>
						<a class="button" href="<?php echo esc_url( wp_nonce_url( admin_url( 'admin-post.php?action=nudge_open_settings' ), 'nudge_open_settings' ) ); ?>" target="_blank" rel="noopener"><?php esc_html_e( 'Open Nudge settings', 'nudge' ); ?></a>
					<?php endif; ?>
				</p>
				<p><?php echo esc_html( sprintf( /* translators: %s: URL */ __( 'Webhooks and carts go to %s', 'nudge' ), $app_url . '/webhooks/woocommerce/' . $shop ) ); ?></p>
			<?php endif; ?>
			<form method="post" action="options.php">
				<?php settings_fields( 'nudge' ); ?>
				<table class="form-table" role="presentation">
					<tr>
						<th scope="row"><label for="nudge-app-url"><?php esc_html_e( 'Nudge URL', 'nudge' ); ?></label></th>
						<td><input id="nudge-app-url" class="regular-text" type="url" name="<?php echo esc_attr( self::OPTION ); ?>[app_url]" value="<?php echo esc_attr( $app_url ); ?>" placeholder="https://nudge.example.com"></td>
					</tr>
					<tr>
						<th scope="row"><label for="nudge-secret"><?php esc_html_e( 'Webhook secret', 'nudge' ); ?></label></th>
						<td>
							<input id="nudge-secret" class="regular-text" type="password" autocomplete="off" name="<?php echo esc_attr( self::OPTION ); ?>[webhook_secret]" value="" placeholder="<?php echo esc_attr( '' !== self::get( 'webhook_secret' ) ? __( '(set; leave empty to keep)', 'nudge' ) : '' ); ?>">
							<p class="description"><?php esc_html_e( 'The secret Nudge knows the shop by: the same as its WooCommerce webhooks use.', 'nudge' ); ?></p>
						</td>
					</tr>
					<tr>
						<th scope="row"><label for="nudge-label"><?php esc_html_e( 'Opt-in label at checkout', 'nudge' ); ?></label></th>
						<td><input id="nudge-label" class="regular-text" type="text" name="<?php echo esc_attr( self::OPTION ); ?>[opt_in_label]" value="<?php echo esc_attr( self::get( 'opt_in_label' ) ); ?>" placeholder="<?php echo esc_attr( self::opt_in_label() ); ?>"></td>
					</tr>
					<tr>
						<th scope="row"><label for="nudge-cookie"><?php esc_html_e( 'Consent cookie', 'nudge' ); ?></label></th>
						<td>
							<input id="nudge-cookie" class="regular-text" type="text" name="<?php echo esc_attr( self::OPTION ); ?>[consent_cookie]" value="<?php echo esc_attr( self::get( 'consent_cookie' ) ); ?>" placeholder="cmplz_marketing=allow">
							<p class="description"><?php esc_html_e( 'The cookie your consent banner sets when a visitor accepts (NAME or NAME=TEXT): the storefront script records nothing before it.', 'nudge' ); ?></p>
						</td>
					</tr>
				</table>
				<?php submit_button(); ?>
			</form>
		</div>
		<?php
	}
}
