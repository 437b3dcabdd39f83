import { describe, expect, it } from 'vitest';
import { DENIED_SYSCALLS, seccompFilter } from './seccomp.ts';

describe('seccompFilter', () => {
  it('checks the architecture first, then denies each listed number and allows the rest', () => {
    const f = seccompFilter('x64');
    expect(f).not.toBeNull();
    const buf = f as Buffer;
    expect(buf.length).toBe((DENIED_SYSCALLS.length + 7) * 8);
    expect(buf.readUInt32LE(4)).toBe(4); // load seccomp_data.arch
    expect(buf.readUInt32LE(8 + 4)).toBe(0xc000003e); // AUDIT_ARCH_X86_64
    expect(buf.readUInt32LE(16 + 4)).toBe(0x80000000); // else kill the process
    expect(buf.readUInt32LE(buf.length - 16 + 4)).toBe(0x7fff0000); // allow
    expect(buf.readUInt32LE(buf.length - 8 + 4)).toBe(0x00050001); // ERRNO(EPERM)
    // every jump to the EPERM return lands exactly on it
    const last = buf.length / 8 - 1;
    for (let i = 4; i < last - 1; i++) expect(i + 1 + buf.readUInt8(i * 8 + 2)).toBe(last);
  });

  it('has no table for other architectures', () => {
    expect(seccompFilter('arm64')).toBeNull();
  });
});
