//! What a person sees and answers while a signature waits: [`touch_confirm`] (simulated touch
//! and confirm on the test token), [`touch_notice`] (notices for real tokens, on a private
//! session bus), [`confirm_prompt`] (the confirm command's prompt), [`pin_entry`] (pinentry)
//! and [`escaping`] (strings someone else chose, escaped wherever a person reads them). The
//! scripted peers are in `tests/peers/`.

mod confirm_prompt;
mod escaping;
mod pin_entry;
mod touch_confirm;
mod touch_notice;
