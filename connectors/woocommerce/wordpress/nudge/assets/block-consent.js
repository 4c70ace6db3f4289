/**
 * The Checkout block sends its contact fields (the opt-in box among them) only with the
 * order. A shopper who ticks the box and leaves would be sent as not consenting, so each
 * change of the box is told to the cart through the Store API's cart extensions route
 * (namespace "nudge", Nudge_Consent::block_box), and the cart is posted to Nudge again.
 *
 * @package Nudge
 */
( function () {
	'use strict';
	// The box's element id: the field's location, then its id (Nudge_Consent::BLOCK_ID).
	var BOX = 'contact-nudge/accepts-marketing';
	document.addEventListener( 'change', function ( event ) {
		var box = event.target;
		var checkout = window.wc && window.wc.blocksCheckout;
		if ( ! box || box.id !== BOX || ! checkout || typeof checkout.extensionCartUpdate !== 'function' ) {
			return;
		}
		checkout.extensionCartUpdate( { namespace: 'nudge', data: { accepts_marketing: !! box.checked } } );
	} );
}() );
