//! The `hwsign` client end to end against a running agent, its outputs checked by independent
//! verifiers: [`sign_formats`], [`sign_openpgp_formats`] and [`minisign`] (every `--format`),
//! [`attest`] (DSSE / in-toto), [`sums`] (checksum files), [`output_modes`] and
//! [`own_outputs`] (what is published, and never signing our own outputs), [`faults`] (an
//! agent that dies or refuses mid-run), [`man_completions`] (generated man pages and shell
//! completions).

mod attest;
mod faults;
mod man_completions;
mod minisign;
mod output_modes;
mod own_outputs;
mod sign_formats;
mod sign_openpgp_formats;
mod sums;
