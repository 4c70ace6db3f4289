<?php
/**
 * Nudge's storefront script on every page, from Nudge itself, deferred. It records nothing
 * before the visitor consents: the consent cookie set on the settings screen is named on
 * the tag (`data-consent-cookie`), as Nudge's script reads it.
 *
 * @package Nudge
 */

defined( 'ABSPATH' ) || exit;

/**
 * The storefront script.
 */
class Nudge_Storefront {

	const HANDLE = 'nudge-storefront';

	/**
	 * Hook in.
	 */
	public static function init() {
		add_action( 'wp_enqueue_scripts', array( __CLASS__, 'enqueue' ) );
		add_filter( 'script_loader_tag', array( __CLASS__, 'tag' ), 10, 2 );
	}

	/**
	 * Load the script on every storefront page.
	 */
	public static function enqueue() {
		if ( '' === Nudge_Settings::app_url() ) {
			return;
		}
		$src = Nudge_Settings::app_url() . '/storefront/' . Nudge_Settings::shop() . '/nudge.js';
		wp_enqueue_script(
			self::HANDLE,
			$src,
			array(),
			null, // Nudge versions the script itself
			array(
				'in_footer' => true,
				'strategy'  => 'defer',
			)
		);
	}

	/**
	 * Name the site's consent cookie on the script's tag.
	 *
	 * @param string $tag    The script tag.
	 * @param string $handle Its handle.
	 * @return string
	 */
	public static function tag( $tag, $handle ) {
		$cookie = Nudge_Settings::get( 'consent_cookie' );
		if ( self::HANDLE !== $handle || '' === $cookie ) {
			return $tag;
		}
		return str_replace( ' src=', ' data-consent-cookie="' . esc_attr( $cookie ) . '" src=', $tag );
	}
}
