export { KeyringError, DecryptError, FernetError, type FernetFailure } from './errors.ts';
export {
  parseKeyring,
  generateKeyring,
  addKey,
  removeKey,
  KEY_ID_PATTERN,
  KEK_BYTES,
  type Keyring,
} from './keyring.ts';
export { aadFor, encryptValue, decryptValue, rewrap, WRAPPED_KEY_BYTES, type Sealed } from './envelope.ts';
export {
  decodeFernet,
  encodeFernet,
  generateFernetKey,
  isFernetKey,
  looksLikeFernetToken,
  FERNET_MAX_CLOCK_SKEW_SECONDS,
  type FernetDecodeOptions,
  type FernetEncodeOptions,
} from './fernet.ts';
export { sha256, sha256Hex, type DigestInput } from './digest.ts';
export { benchmarkUnwrapDecrypt, type CryptoBenchmarkResult } from './benchmark.ts';
