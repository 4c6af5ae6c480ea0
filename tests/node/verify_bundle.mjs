#!/usr/bin/env node
// Verify a Sigstore bundle v0.3 in public-key form (what `hwsign attest --bundle` writes)
// with sigstore-js, offline, against a pinned public key: @sigstore/bundle reads and checks
// the bundle, @sigstore/verify's Verifier checks the signature with no transparency log,
// no certificate transparency and no timestamp authority (all thresholds 0).
//
// Used by tests/interop/verify.rs as an independent verifier. Exit status: 0 = the bundle
// verifies with the key (and every ARTIFACT is a subject of its in-toto statement with that
// name and sha256), 1 = it does not (the reason is printed on stderr), 2 = usage error or
// the packages cannot be loaded.
//
//   node verify_bundle.mjs NODE_MODULES BUNDLE PUBLIC_KEY_PEM [ARTIFACT...]
//
// NODE_MODULES is the node_modules directory holding @sigstore/verify and @sigstore/bundle
// (scripts/deps.sh --node prints it): ES modules ignore NODE_PATH, so the packages are
// loaded with a require() rooted there.
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';

function usage(message) {
  process.stderr.write(`verify_bundle.mjs: ${message}\n`);
  process.stderr.write('usage: node verify_bundle.mjs NODE_MODULES BUNDLE PUBLIC_KEY_PEM [ARTIFACT...]\n');
  process.exit(2);
}

function fail(message) {
  process.stderr.write(`verification failed: ${message}\n`);
  process.exit(1);
}

const [nodeModules, bundlePath, keyPath, ...artifacts] = process.argv.slice(2);
if (!nodeModules || !bundlePath || !keyPath) {
  usage('missing arguments');
}

// A require() whose lookup starts in NODE_MODULES itself.
const require = createRequire(join(resolve(nodeModules), 'hwsign-verify-bundle.cjs'));
let sigstoreBundle;
let sigstoreVerify;
try {
  sigstoreBundle = require('@sigstore/bundle');
  sigstoreVerify = require('@sigstore/verify');
} catch (e) {
  usage(`cannot load @sigstore/bundle and @sigstore/verify from ${nodeModules} (run scripts/deps.sh --node): ${e.message}`);
}
const { bundleFromJSON } = sigstoreBundle;
const { Verifier, toSignedEntity, toTrustMaterial } = sigstoreVerify;

let spki;
try {
  spki = createPublicKey(readFileSync(keyPath, 'utf8')).export({ type: 'spki', format: 'der' });
} catch (e) {
  usage(`bad public key PEM ${keyPath}: ${e.message}`);
}
// hwsign's key id (the bundle's publicKey.hint and the DSSE keyid): SHA-256 of the SPKI DER.
const keyid = createHash('sha256').update(spki).digest('hex');

let json;
try {
  json = JSON.parse(readFileSync(bundlePath, 'utf8'));
} catch (e) {
  fail(`${bundlePath} is not JSON: ${e.message}`);
}

let signer;
let bundle;
try {
  bundle = bundleFromJSON(json); // also asserts the bundle is well-formed
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
  const keys = { [keyid]: { rawBytes: spki, keyDetails: 0, validFor: undefined } };
  const trust = toTrustMaterial(trustedRoot, keys);
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0 });
  signer = verifier.verify(toSignedEntity(bundle));
} catch (e) {
  const detail = e.fields ? ` (${e.fields.join(', ')})` : '';
  fail(`${e.code ? `${e.code}: ` : ''}${e.message}${detail}`);
}
if (!signer || !signer.key) {
  fail('the verifier returned no signer');
}

if (artifacts.length > 0) {
  if (bundle.content.$case !== 'dsseEnvelope') {
    fail('artifacts given, but the bundle holds no DSSE envelope');
  }
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== 'application/vnd.in-toto+json') {
    fail(`payloadType is ${envelope.payloadType}`);
  }
  let statement;
  try {
    statement = JSON.parse(envelope.payload.toString('utf8'));
  } catch (e) {
    fail(`the payload is not JSON: ${e.message}`);
  }
  for (const artifact of artifacts) {
    const name = basename(artifact);
    const digest = createHash('sha256').update(readFileSync(artifact)).digest('hex');
    const subject = (statement.subject || []).find((s) => s.name === name);
    if (!subject) {
      fail(`no subject named ${name}`);
    }
    if ((subject.digest || {}).sha256 !== digest) {
      fail(`subject ${name} has sha256 ${(subject.digest || {}).sha256}, the file ${digest}`);
    }
  }
}

process.stdout.write(`OK: ${bundlePath} verified with key ${keyid}\n`);
