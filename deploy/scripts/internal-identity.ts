// The internal-identity Secret: one Ed25519 signing key per signer and the
// verify-key set every service trusts. Prints a Secret manifest (JSON) for
// `kubectl apply -f -`; never writes key material anywhere else.
//
//   node deploy/scripts/internal-identity.ts [--name csda-internal-identity]
//       fresh keys for every signer
//   node deploy/scripts/internal-identity.ts --from current.json --stage <signer>
//       step 1 of a rotation: a new key for <signer> under signing-key-<signer>-next;
//       its public half joins verify-keys (old and new verify side by side)
//   … --from current.json --promote <signer>
//       step 2: the new key signs (signing-key-<signer>); the old one still verifies
//   … --from current.json --prune
//       step 3: verify-keys keeps only the keys of current signing keys
// current.json: `kubectl get secret csda-internal-identity -o json`.
// Roll every Deployment after step 1 before step 2, and after step 2 before
// step 3: then no pod ever sees a token signed by a key it does not trust.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ISSUERS, formatVerifyKeys, generateInternalKeyPair, keyIdOf, parsePrivateKey, parseVerifyKeys, verifyKeyOf, type InternalVerifyKey } from '@csda/auth';

const VERIFY_KEYS = 'verify-keys';
const signingKey = (issuer: string) => `signing-key-${issuer}`;
const nextKey = (issuer: string) => `${signingKey(issuer)}-next`;

type Data = Record<string, string>;

function usage(message: string): never {
  process.stderr.write(`internal-identity: ${message}\n`);
  process.exit(64);
}

function signer(name: string | undefined): string {
  if (!name || !ISSUERS.includes(name)) usage(`expected a signer (${ISSUERS.join(', ')}), got ${name ?? 'nothing'}`);
  return name;
}

function readSecret(file: string): Data {
  const secret = JSON.parse(readFileSync(file, 'utf8')) as { data?: Record<string, string> };
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

function verifyKeys(data: Data): InternalVerifyKey[] {
  return data[VERIFY_KEYS] ? parseVerifyKeys(data[VERIFY_KEYS]) : [];
}

const withKey = (keys: InternalVerifyKey[], key: InternalVerifyKey) => (keys.some((k) => k.kid === key.kid) ? keys : [...keys, key]);

function fresh(): Data {
  const data: Data = {};
  const keys: InternalVerifyKey[] = [];
  for (const issuer of ISSUERS) {
    const pair = generateInternalKeyPair();
    data[signingKey(issuer)] = pair.privateKeyPem;
    keys.push(verifyKeyOf(issuer, parsePrivateKey(pair.privateKeyPem)));
  }
  return { ...data, [VERIFY_KEYS]: formatVerifyKeys(keys) };
}

function stage(data: Data, issuer: string): Data {
  const pair = generateInternalKeyPair();
  const keys = withKey(verifyKeys(data), verifyKeyOf(issuer, parsePrivateKey(pair.privateKeyPem)));
  return { ...data, [nextKey(issuer)]: pair.privateKeyPem, [VERIFY_KEYS]: formatVerifyKeys(keys) };
}

function promote(data: Data, issuer: string): Data {
  const next = data[nextKey(issuer)];
  if (!next) usage(`no ${nextKey(issuer)} to promote: run --stage ${issuer} first`);
  const staged = verifyKeyOf(issuer, parsePrivateKey(next));
  if (!verifyKeys(data).some((k) => k.kid === staged.kid)) usage(`${nextKey(issuer)} is not in ${VERIFY_KEYS}: run --stage again`);
  const { [nextKey(issuer)]: _promoted, ...rest } = data;
  return { ...rest, [signingKey(issuer)]: next };
}

function prune(data: Data): Data {
  const live = new Set(
    Object.entries(data)
      .filter(([k]) => k.startsWith('signing-key-'))
      .map(([, pem]) => keyIdOf(parsePrivateKey(pem))),
  );
  return { ...data, [VERIFY_KEYS]: formatVerifyKeys(verifyKeys(data).filter((k) => live.has(k.kid))) };
}

const { values } = parseArgs({
  options: { name: { type: 'string', default: 'csda-internal-identity' }, from: { type: 'string' }, stage: { type: 'string' }, promote: { type: 'string' }, prune: { type: 'boolean' } },
});
const steps = [values.stage, values.promote, values.prune].filter((v) => v !== undefined).length;
if (steps > 1) usage('one of --stage, --promote, --prune at a time');
if (steps === 1 && !values.from) usage('--stage, --promote and --prune need --from <current Secret as JSON>');
const current = values.from ? readSecret(values.from) : undefined;
const data = !current ? fresh() : values.stage ? stage(current, signer(values.stage)) : values.promote ? promote(current, signer(values.promote)) : values.prune ? prune(current) : current;

const manifest = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: values.name, labels: { 'app.kubernetes.io/part-of': 'csda' } },
  type: 'Opaque',
  data: Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
};
process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
const ids = verifyKeys(data).map((k) => `${k.issuer}:${k.kid.slice(0, 12)}`).join(', ');
process.stderr.write(`internal-identity: ${values.name} with verify keys ${ids}\n`);
