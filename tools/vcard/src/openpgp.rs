//! The OpenPGP card: opcard behind the ISO layer, plus simulated touch for PSO:COMPUTE DIGITAL
//! SIGNATURE. opcard stores the UIF data objects (D6/D7/D8, PUT DATA with PW3) but does not
//! enforce them; the runner does: after a successful PSO:CDS it reads UIF-SIG (GET DATA D6) and,
//! when it is on (or `--touch-sig` was given), holds the signature until a touch, else 6982.

use crate::iso::{call_firmware, Apdu, App, Response, SW_SECURITY_STATUS};
use crate::touch::Touch;

pub struct OpenPgpApp<T: opcard::Client> {
    card: opcard::Card<T>,
    touch: Touch,
    /// Touch for every signature, whatever UIF-SIG says.
    touch_sig: bool,
}

impl<T: opcard::Client> OpenPgpApp<T> {
    pub fn new(card: opcard::Card<T>, touch: Touch, touch_sig: bool) -> Self {
        OpenPgpApp {
            card,
            touch,
            touch_sig,
        }
    }

    fn run(&mut self, apdu: &Apdu) -> Response {
        let card = &mut self.card;
        call_firmware(apdu, |view, reply| card.handle(view, reply))
    }

    /// UIF-SIG (GET DATA D6): first byte 01 (on) or 02 (permanently on).
    fn uif_sig(&mut self) -> bool {
        let r = self.run(&Apdu::new(0x00, 0xCA, 0x00, 0xD6, &[], 256));
        r.is_ok() && r.data.first().is_some_and(|b| *b != 0)
    }
}

impl<T: opcard::Client> App for OpenPgpApp<T> {
    fn call(&mut self, apdu: &Apdu) -> Response {
        let response = self.run(apdu);
        let is_cds = apdu.ins == 0x2A && apdu.p1 == 0x9E && apdu.p2 == 0x9A;
        let gated = is_cds && response.is_ok() && (self.touch_sig || self.uif_sig());
        if gated && !self.touch.wait("OpenPGP PSO:COMPUTE DIGITAL SIGNATURE") {
            return Response::status(SW_SECURITY_STATUS);
        }
        response
    }

    fn reset(&mut self) {
        self.card.reset();
    }
}
