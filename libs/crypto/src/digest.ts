import { createHash } from 'node:crypto';

/** What a digest is taken of: bytes, or a string as its UTF-8 bytes. */
export type DigestInput = string | NodeJS.ArrayBufferView;

/** SHA-256 of `data` (a string hashes as UTF-8). */
export function sha256(data: DigestInput): Buffer {
  return createHash('sha256').update(data as string | Uint8Array).digest();
}

/** SHA-256 of `data` as 64 lowercase hex digits. */
export function sha256Hex(data: DigestInput): string {
  return sha256(data).toString('hex');
}
