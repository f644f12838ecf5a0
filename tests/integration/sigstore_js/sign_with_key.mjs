// Signs an image digest the way sigstore-js makes a Sigstore bundle, with a local key and no witness:
// an in-toto Statement (subject = the image digest) in a DSSE envelope, built by @sigstore/sign's
// DSSEBundleBuilder around a Signer that holds an ECDSA P-256 key. No Fulcio, no Rekor, no network.
//
//   node sign_with_key.mjs --key private.pem --digest sha256:<hex> --name REPOSITORY --out bundle.json
//     [--predicate-type URI]  default https://sigstore.dev/cosign/sign/v1 (cosign's signature predicate)
//     [--hint TEXT]           the public key hint; default cosign's, base64(SHA-256(SPKI DER)); "" for none
//     [--legacy]              certificateChain as sigstore-js's legacyCompatibility sets it: the bundle
//                             is then `application/vnd.dev.sigstore.bundle+json;version=0.2`
//
// Environment: SIGSTORE_JS_MODULES, the node_modules holding @sigstore/sign
// (default: <repo>/.tools/node_modules, where scripts/install-test-tools puts @sigstore/cli's).

import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: options } = parseArgs({
  options: {
    key: { type: 'string' },
    digest: { type: 'string' },
    name: { type: 'string', default: 'image' },
    out: { type: 'string' },
    'predicate-type': { type: 'string', default: 'https://sigstore.dev/cosign/sign/v1' },
    hint: { type: 'string' },
    legacy: { type: 'boolean', default: false },
  },
});
for (const required of ['key', 'digest', 'out']) {
  if (!options[required]) throw new Error(`--${required} is required`);
}
const [algorithm, hex] = options.digest.split(':');
if (algorithm !== 'sha256' || !/^[0-9a-f]{64}$/.test(hex ?? '')) throw new Error(`not a sha256 digest: ${options.digest}`);

// the packages are installed under .tools/, which module resolution from tests/ would not search
const modules = process.env.SIGSTORE_JS_MODULES
  ?? fileURLToPath(new URL('../../../.tools/node_modules/', import.meta.url));
const require = createRequire(join(modules, 'resolve-from-here.js'));
const { DSSEBundleBuilder } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');

const privateKey = createPrivateKey(readFileSync(options.key));
const publicKey = createPublicKey(privateKey);
const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
const spki = publicKey.export({ type: 'spki', format: 'der' });
const hint = options.hint ?? createHash('sha256').update(spki).digest('base64');

// @sigstore/sign's Signer (dist/signer/signer.d.ts): sign(data) => {signature, key: KeyMaterial}.
// The builder hands it PAE(payloadType, payload); ECDSA with SHA-256, DER-encoded as cosign's.
const signer = {
  async sign(data) {
    return {
      signature: sign('sha256', data, privateKey),
      key: { $case: 'publicKey', publicKey: publicPem, hint },
    };
  },
};

const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: options.name, digest: { sha256: hex } }],
  predicateType: options['predicate-type'],
  predicate: {},
};
const builder = new DSSEBundleBuilder({ signer, witnesses: [], certificateChain: options.legacy });
const bundle = await builder.create({
  data: Buffer.from(JSON.stringify(statement)),
  type: 'application/vnd.in-toto+json',
});
writeFileSync(options.out, JSON.stringify(bundleToJSON(bundle)));
