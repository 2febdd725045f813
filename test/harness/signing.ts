/**
 * Signature fixtures made at test time with openssl: cosign signatures with a key, keyless
 * cosign signatures under a test Sigstore (a test CA standing in for Fulcio, a test CT log, a
 * test Rekor key, and the trusted_root.json that names them), and Notation COSE envelopes under
 * a test CA chain. No cosign or notation binary exists in Debian 12, so the documents those
 * tools would write (the simple-signing payload, the Rekor bundle, the SCT list, the COSE
 * envelope) are assembled here, and every signature in them is made by openssl.
 *
 * Each maker returns the blobs and the signature manifest (for a registry, as a `.sig` tag or
 * as an OCI 1.1 referrer), plus what the verifier should be given.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode, Tag } from 'cbor2';

export type KeyKind = 'p256' | 'p384' | 'rsa' | 'ed25519';

export interface Key {
  kind: KeyKind;
  /** Path of the private key (PEM). */
  privatePath: string;
  /** The public key, PEM (`-----BEGIN PUBLIC KEY-----`). */
  publicPem: string;
  /** The public key, SubjectPublicKeyInfo DER. */
  spki: Buffer;
}

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
  annotations?: Record<string, string>;
}

/** A signature manifest ready to push: its JSON, bytes and digest, and the blobs it names. */
export interface SignatureArtifact {
  manifest: Record<string, unknown>;
  manifestBytes: Buffer;
  digest: string;
  mediaType: string;
  /** The config blob and the layers. */
  blobs: Blob[];
  /** `sha256-<hex>.sig` for a tag-attached cosign signature; absent for referrers. */
  tag?: string;
}

export interface Subject {
  digest: string;
  mediaType?: string;
  size?: number;
  /** `registry/name`, as cosign writes docker-reference. */
  repository?: string;
}

const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  empty: 'application/vnd.oci.empty.v1+json',
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  cosignArtifact: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  notation: 'application/vnd.cncf.notary.signature',
  cose: 'application/cose',
  jws: 'application/jose+json',
};

export function sha256Hex(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

function blobOf(mediaType: string, bytes: Buffer, annotations?: Record<string, string>): Blob {
  const b: Blob = { mediaType, digest: `sha256:${sha256Hex(bytes)}`, size: bytes.length, bytes };
  if (annotations) b.annotations = annotations;
  return b;
}

function openssl(args: string[], input?: Uint8Array): Buffer {
  return execFileSync('openssl', args, {
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 16 << 20,
  });
}

/** Directories made for fixtures, removed when the process exits. */
const made: string[] = [];
let cleanupInstalled = false;

/** Removes every fixture directory made so far (call it from afterAll: vitest's workers end
 * without running exit handlers). */
export function removeSigningFixtures(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fresh directory for one fixture's keys and certificates (removed at exit). */
export function workDir(prefix = 'berth-sig-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.on('exit', removeSigningFixtures);
  }
  return dir;
}

/** Makes a key pair with openssl. */
export function makeKey(dir: string, name: string, kind: KeyKind): Key {
  const privatePath = join(dir, `${name}.key`);
  const gen: Record<KeyKind, string[]> = {
    p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
    rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
    ed25519: ['-algorithm', 'ED25519'],
  };
  openssl(['genpkey', ...gen[kind], '-out', privatePath]);
  const publicPem = openssl(['pkey', '-in', privatePath, '-pubout']).toString();
  const spki = openssl(['pkey', '-in', privatePath, '-pubout', '-outform', 'DER']);
  return { kind, privatePath, publicPem, spki };
}

/**
 * Signs `data` with `key` as cosign would: ECDSA (DER) with SHA-256 for P-256 and RSA
 * (PKCS#1 v1.5), SHA-384 for P-384, Ed25519 over the bytes. `hash` overrides the digest.
 */
export function sign(key: Key, data: Uint8Array, hash?: 'sha256' | 'sha384'): Buffer {
  return withFile(data, (inPath) => {
    if (key.kind === 'ed25519') {
      return openssl(['pkeyutl', '-sign', '-inkey', key.privatePath, '-rawin', '-in', inPath]);
    }
    const md = hash ?? (key.kind === 'p384' ? 'sha384' : 'sha256');
    return openssl(['dgst', `-${md}`, '-sign', key.privatePath, inPath]);
  });
}

/** RSA-PSS (salt as long as the hash), as Notation signs with RSA keys. */
export function signPss(key: Key, data: Uint8Array): Buffer {
  return withFile(data, (inPath) =>
    openssl([
      'dgst',
      '-sha256',
      '-sigopt',
      'rsa_padding_mode:pss',
      '-sigopt',
      'rsa_pss_saltlen:32',
      '-sign',
      key.privatePath,
      inPath,
    ]),
  );
}

/** Runs `f` on a temporary file holding `data`, then removes it. */
function withFile<T>(data: Uint8Array, f: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sign-'));
  try {
    const path = join(dir, 'data');
    writeFileSync(path, data);
    return f(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** cosign's simple-signing payload, in cosign's field order. */
export function cosignPayload(
  digest: string,
  repository: string,
  optional: Record<string, string> | null = null,
): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': repository },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional,
    }),
  );
}

function artifact(
  manifest: Record<string, unknown>,
  blobs: Blob[],
  tag?: string,
): SignatureArtifact {
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const a: SignatureArtifact = {
    manifest,
    manifestBytes,
    digest: `sha256:${sha256Hex(manifestBytes)}`,
    mediaType: MT.ociManifest,
    blobs,
  };
  if (tag) a.tag = tag;
  return a;
}

function descriptorOf(b: Blob): Record<string, unknown> {
  const d: Record<string, unknown> = { mediaType: b.mediaType, digest: b.digest, size: b.size };
  if (b.annotations) d.annotations = b.annotations;
  return d;
}

export interface CosignLayer {
  payload: Buffer;
  /** base64 */
  signature: string;
  certificate?: string;
  chain?: string;
  bundle?: string;
}

/**
 * A cosign signature manifest: as cosign writes it under the `sha256-<hex>.sig` tag (an image
 * manifest with an OCI config), or as an OCI 1.1 referrer (artifactType
 * application/vnd.dev.cosign.artifact.sig.v1+json, empty config, subject).
 */
export function cosignManifest(
  layers: CosignLayer[],
  subject: Subject,
  via: 'tag' | 'referrer',
): SignatureArtifact {
  const layerBlobs = layers.map((l) => {
    const annotations: Record<string, string> = {
      'dev.cosignproject.cosign/signature': l.signature,
    };
    if (l.certificate) annotations['dev.sigstore.cosign/certificate'] = l.certificate;
    if (l.chain) annotations['dev.sigstore.cosign/chain'] = l.chain;
    if (l.bundle) annotations['dev.sigstore.cosign/bundle'] = l.bundle;
    return blobOf(MT.simpleSigning, l.payload, annotations);
  });
  if (via === 'tag') {
    const config = blobOf(
      MT.ociConfig,
      Buffer.from(
        JSON.stringify({
          architecture: '',
          os: '',
          config: {},
          rootfs: { type: 'layers', diff_ids: layerBlobs.map((b) => b.digest) },
        }),
      ),
    );
    return artifact(
      {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: descriptorOf(config),
        layers: layerBlobs.map(descriptorOf),
      },
      [config, ...layerBlobs],
      `${subject.digest.replace(':', '-')}.sig`,
    );
  }
  const config = blobOf(MT.empty, Buffer.from('{}'));
  return artifact(
    {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: MT.cosignArtifact,
      config: descriptorOf(config),
      layers: layerBlobs.map(descriptorOf),
      subject: subjectDescriptor(subject),
    },
    [config, ...layerBlobs],
  );
}

function subjectDescriptor(s: Subject): Record<string, unknown> {
  return { mediaType: s.mediaType ?? MT.ociManifest, digest: s.digest, size: s.size ?? 0 };
}

export interface CosignKeyFixture {
  key: Key;
  payload: Buffer;
  signature: string;
  artifact: SignatureArtifact;
}

/** `cosign sign --key`: a key of `kind`, a payload for `subject`, signed, in a manifest. */
export function makeCosignKeySignature(
  subject: Subject,
  opts: {
    kind?: KeyKind;
    via?: 'tag' | 'referrer';
    optional?: Record<string, string>;
    dir?: string;
    key?: Key;
  } = {},
): CosignKeyFixture {
  const dir = opts.dir ?? workDir();
  const key = opts.key ?? makeKey(dir, 'cosign', opts.kind ?? 'p256');
  const payload = cosignPayload(
    subject.digest,
    subject.repository ?? 'localhost/test',
    opts.optional ?? null,
  );
  const signature = sign(key, payload).toString('base64');
  return {
    key,
    payload,
    signature,
    artifact: cosignManifest([{ payload, signature }], subject, opts.via ?? 'tag'),
  };
}

export interface CosignKeyBundleFixture {
  key: Key;
  /** The Sigstore bundle (JSON text). */
  bundle: string;
  /** The bundle as an OCI 1.1 referrer. */
  artifact: SignatureArtifact;
}

/**
 * `cosign sign --key` as cosign 3 does it: an in-toto statement naming the image, in a DSSE
 * envelope signed by the key, in a Sigstore bundle (no certificate, a key hint, no log entry)
 * attached as a referrer.
 */
export function makeCosignKeyBundle(
  subject: Subject,
  opts: { kind?: KeyKind; key?: Key; digest?: string; predicateType?: string } = {},
): CosignKeyBundleFixture {
  const key = opts.key ?? makeKey(workDir(), 'cosign', opts.kind ?? 'p256');
  const payloadType = 'application/vnd.in-toto+json';
  const digest = opts.digest ?? subject.digest;
  const payload = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [
        {
          name: subject.repository ?? 'localhost/test',
          digest: { sha256: digest.replace(/^sha256:/, '') },
        },
      ],
      predicateType: opts.predicateType ?? 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    }),
  );
  const sig = sign(key, paeBytes(payloadType, payload));
  const bundle = JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      publicKey: { hint: createHash('sha256').update(key.spki).digest('base64') },
      tlogEntries: [],
    },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    },
  });
  return { key, bundle, artifact: bundleReferrer(bundle, subject, opts.predicateType) };
}

// --- Keyless: a test Sigstore -------------------------------------------------------------

export interface TestSigstore {
  dir: string;
  fulcioRoot: { key: Key; certPem: string; der: Buffer };
  fulcioIntermediate: { key: Key; certPem: string; der: Buffer };
  ctLog: Key;
  rekor: Key;
  /** trusted_root.json naming the test CA chain, CT log and Rekor key. */
  trustedRootJson: string;
}

/** A PEM certificate's DER: its base64 body (a format change, no need for a process). */
function der(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error('no certificate in PEM');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

function caConfig(dir: string, extra: string): string {
  mkdirSync(join(dir, 'newcerts'), { recursive: true });
  return `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}/newcerts
serial = ${dir}/serial
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
countryName = optional
organizationName = optional
commonName = optional
[ req ]
distinguished_name = dn
[ dn ]
${extra}
`;
}

/** Issues a certificate with `openssl ca`, fixed serial and dates, extensions from `exts`
 * (one per line, in the order they appear in the certificate). */
function issue(
  dir: string,
  name: string,
  issuer: { key: Key; certPath: string } | 'self',
  subjectKey: Key,
  subj: string,
  exts: string[],
  notBefore: Date,
  notAfter: Date,
  serial = '1001',
): string {
  const d = join(dir, `ca-${name}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'index.txt'), '');
  writeFileSync(join(d, 'serial'), `${serial}\n`);
  const cnf = join(d, 'ca.cnf');
  writeFileSync(cnf, caConfig(d, `[ exts ]\n${exts.join('\n')}\n`));
  const csr = join(d, 'req.csr');
  openssl([
    'req',
    '-new',
    '-key',
    subjectKey.privatePath,
    '-subj',
    subj,
    '-out',
    csr,
    '-config',
    cnf,
  ]);
  const out = join(d, 'cert.pem');
  const time = (t: Date) => t.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  const md = (issuer === 'self' ? subjectKey : issuer.key).kind === 'p384' ? 'sha384' : 'sha256';
  const args = [
    'ca',
    '-batch',
    '-notext',
    '-config',
    cnf,
    '-extensions',
    'exts',
    '-in',
    csr,
    '-out',
    out,
  ];
  args.push('-startdate', time(notBefore), '-enddate', time(notAfter), '-subj', subj);
  if ((issuer === 'self' ? subjectKey : issuer.key).kind !== 'ed25519') args.push('-md', md);
  if (issuer === 'self') args.push('-selfsign', '-keyfile', subjectKey.privatePath);
  else args.push('-cert', issuer.certPath, '-keyfile', issuer.key.privatePath);
  openssl(args);
  return readFileSync(out, 'utf8').replace(/^[\s\S]*?(-----BEGIN CERTIFICATE-----)/, '$1');
}

const YEAR = 365 * 24 * 3600 * 1000;

/** A test Sigstore: a Fulcio-like root and intermediate (P-384), a CT log key and a Rekor key
 * (P-256), and the trusted_root.json that names them. */
export function makeTestSigstore(dir = workDir()): TestSigstore {
  const now = Date.now();
  const rootKey = makeKey(dir, 'fulcio-root', 'p384');
  const interKey = makeKey(dir, 'fulcio-intermediate', 'p384');
  const rootPem = issue(
    dir,
    'root',
    'self',
    rootKey,
    '/O=sigstore.test/CN=sigstore',
    [
      'basicConstraints = critical, CA:true, pathlen:1',
      'keyUsage = critical, keyCertSign, cRLSign',
    ],
    new Date(now - 5 * YEAR),
    new Date(now + 5 * YEAR),
    '01',
  );
  const rootPath = join(dir, 'root.pem');
  writeFileSync(rootPath, rootPem);
  const interPem = issue(
    dir,
    'intermediate',
    { key: rootKey, certPath: rootPath },
    interKey,
    '/O=sigstore.test/CN=sigstore-intermediate',
    [
      'basicConstraints = critical, CA:true, pathlen:0',
      'keyUsage = critical, keyCertSign, cRLSign',
      'extendedKeyUsage = codeSigning',
    ],
    new Date(now - 4 * YEAR),
    new Date(now + 4 * YEAR),
    '02',
  );
  writeFileSync(join(dir, 'intermediate.pem'), interPem);
  const ctLog = makeKey(dir, 'ctlog', 'p256');
  const rekor = makeKey(dir, 'rekor', 'p256');
  const fulcioRoot = { key: rootKey, certPem: rootPem, der: der(rootPem) };
  const fulcioIntermediate = { key: interKey, certPem: interPem, der: der(interPem) };
  const start = new Date(now - 5 * YEAR).toISOString();
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: 'https://rekor.sigstore.test',
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: rekor.spki.toString('base64'),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start },
        },
        logId: { keyId: createHash('sha256').update(rekor.spki).digest('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.test', commonName: 'sigstore' },
        uri: 'https://fulcio.sigstore.test',
        certChain: {
          certificates: [
            { rawBytes: fulcioIntermediate.der.toString('base64') },
            { rawBytes: fulcioRoot.der.toString('base64') },
          ],
        },
        validFor: { start },
      },
    ],
    ctlogs: [
      {
        baseUrl: 'https://ctfe.sigstore.test/test',
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: ctLog.spki.toString('base64'),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start },
        },
        logId: { keyId: createHash('sha256').update(ctLog.spki).digest('base64') },
      },
    ],
    timestampAuthorities: [],
  };
  return {
    dir,
    fulcioRoot,
    fulcioIntermediate,
    ctLog,
    rekor,
    trustedRootJson: JSON.stringify(trustedRoot, null, 2),
  };
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** The tbsCertificate (DER) of a certificate. */
function tbsOf(certDer: Buffer): Buffer {
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, ... }: skip the outer header.
  const headerLen = (b: Buffer, at: number) => (b[at + 1]! & 0x80 ? 2 + (b[at + 1]! & 0x7f) : 2);
  const lenAt = (b: Buffer, at: number) => {
    const l = b[at + 1]!;
    if (!(l & 0x80)) return l;
    let n = 0;
    for (let i = 0; i < (l & 0x7f); i++) n = n * 256 + b[at + 2 + i]!;
    return n;
  };
  const at = headerLen(certDer, 0);
  return certDer.subarray(at, at + headerLen(certDer, at) + lenAt(certDer, at));
}

export interface KeylessOptions {
  /** The certificate's SAN: an email, or a URI (a workflow). Default signer@example.com. */
  identity?: string;
  /** The OIDC issuer written in the Fulcio extensions. */
  issuer?: string;
  /** Certificate validity; default: from 5 minutes ago for 10 minutes (as Fulcio). */
  notBefore?: Date;
  notAfter?: Date;
  /** The Rekor integrated time; default: one minute after notBefore. */
  integratedTime?: Date;
  via?: 'tag' | 'referrer';
  /** The digest the payload names (default: the subject's). */
  payloadDigest?: string;
  /** Issue the leaf from this CA instead of the test Sigstore's intermediate. */
  otherCa?: TestSigstore;
  /** Sign the SCT with this key instead of the CT log's. */
  sctKey?: Key;
  /** Sign the SET with this key instead of Rekor's. */
  setKey?: Key;
  /** Sign as cosign 3 does: a DSSE envelope with an in-toto statement, in a Sigstore bundle
   * attached as a referrer (`artifact` is then that referrer). */
  dsse?: boolean;
  /** The statement's predicate type (DSSE only); default cosign's signature predicate. */
  predicateType?: string;
}

export interface KeylessFixture {
  payload: Buffer;
  signature: string;
  certificate: string;
  chain: string;
  /** The `dev.sigstore.cosign/bundle` annotation (JSON text). */
  rekorBundle: string;
  /** A Sigstore bundle v0.3 (JSON text) for the same signature. */
  sigstoreBundle: string;
  artifact: SignatureArtifact;
  identity: string;
  issuer: string;
}

/**
 * `cosign sign` keyless: an ephemeral P-256 key, a Fulcio-like certificate with the identity
 * and issuer extensions and an embedded SCT from the test CT log, the signature over the
 * payload, and a Rekor hashedrekord entry with its signed entry timestamp.
 */
export function makeKeylessSignature(
  sigstore: TestSigstore,
  subject: Subject,
  opts: KeylessOptions = {},
): KeylessFixture {
  const dir = workDir();
  const identity = opts.identity ?? 'signer@example.com';
  const issuer = opts.issuer ?? 'https://accounts.example.com';
  const notBefore = opts.notBefore ?? new Date(Math.floor(Date.now() / 1000 - 300) * 1000);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 600_000);
  const integratedTime = opts.integratedTime ?? new Date(notBefore.getTime() + 60_000);
  const ca = opts.otherCa ?? sigstore;
  const interPath = join(dir, 'intermediate.pem');
  writeFileSync(interPath, ca.fulcioIntermediate.certPem);
  const leafKey = makeKey(dir, 'ephemeral', 'p256');
  const san = identity.includes('://') ? `URI:${identity}` : `email:${identity}`;
  const exts = [
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = codeSigning',
    `subjectAltName = critical, ${san}`,
    `1.3.6.1.4.1.57264.1.1 = DER:${Buffer.from(issuer).toString('hex')}`,
    `1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:${issuer}`,
  ];
  const issuerRef = { key: ca.fulcioIntermediate.key, certPath: interPath };
  // Fulcio signs a precertificate, logs it, and puts the SCT in the final certificate. The
  // SCT signs the TBS without the SCT extension, which is this certificate's TBS exactly.
  const pre = issue(dir, 'pre', issuerRef, leafKey, '/O=sigstore.test', exts, notBefore, notAfter);
  const preTbs = tbsOf(der(pre));
  const issuerKeyHash = createHash('sha256').update(ca.fulcioIntermediate.key.spki).digest();
  const ctKey = opts.sctKey ?? sigstore.ctLog;
  const timestamp = notBefore.getTime() + 1000;
  const sctSigned = Buffer.concat([
    Buffer.from([0, 0]),
    u64(timestamp),
    u16(1),
    issuerKeyHash,
    u24(preTbs.length),
    preTbs,
    u16(0),
  ]);
  const sctSig = sign(ctKey, sctSigned, 'sha256');
  const sct = Buffer.concat([
    Buffer.from([0]),
    createHash('sha256').update(sigstore.ctLog.spki).digest(),
    u64(timestamp),
    u16(0),
    Buffer.from([4, 3]),
    u16(sctSig.length),
    sctSig,
  ]);
  const list = Buffer.concat([u16(sct.length + 2), u16(sct.length), sct]);
  const octet = Buffer.concat([Buffer.from([0x04]), derLength(list.length), list]);
  const leafPem = issue(
    dir,
    'leaf',
    issuerRef,
    leafKey,
    '/O=sigstore.test',
    [...exts, `1.3.6.1.4.1.11129.2.4.2 = DER:${octet.toString('hex')}`],
    notBefore,
    notAfter,
  );
  const digest = opts.payloadDigest ?? subject.digest;
  const repository = subject.repository ?? 'localhost/test';
  // cosign 2 signs the simple-signing payload; cosign 3 signs a DSSE envelope holding an
  // in-toto statement about the image, and logs it as a dsse entry.
  const payloadType = 'application/vnd.in-toto+json';
  const payload = opts.dsse
    ? Buffer.from(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v1',
          subject: [{ name: repository, digest: { sha256: digest.replace(/^sha256:/, '') } }],
          predicateType: opts.predicateType ?? 'https://sigstore.dev/cosign/sign/v1',
          predicate: {},
        }),
      )
    : cosignPayload(digest, repository);
  const signed = opts.dsse ? paeBytes(payloadType, payload) : payload;
  const signature = sign(leafKey, signed, 'sha256').toString('base64');
  const certB64 = Buffer.from(leafPem).toString('base64');
  const body = opts.dsse
    ? {
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: { algorithm: 'sha256', value: sha256Hex(signed) },
          payloadHash: { algorithm: 'sha256', value: sha256Hex(payload) },
          signatures: [{ signature, verifier: certB64 }],
        },
      }
    : {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: sha256Hex(payload) } },
          signature: { content: signature, publicKey: { content: certB64 } },
        },
      };
  const bodyB64 = Buffer.from(JSON.stringify(body)).toString('base64');
  const logID = sha256Hex(sigstore.rekor.spki);
  const entry = {
    body: bodyB64,
    integratedTime: Math.floor(integratedTime.getTime() / 1000),
    logID,
    logIndex: 4242,
  };
  // The SET signs the canonical JSON of the entry: keys sorted, no spaces.
  const canonical = Buffer.from(
    JSON.stringify(Object.fromEntries(Object.entries(entry).sort(([a], [b]) => (a < b ? -1 : 1)))),
  );
  const set = sign(opts.setKey ?? sigstore.rekor, canonical, 'sha256').toString('base64');
  const rekorBundle = JSON.stringify({ SignedEntryTimestamp: set, Payload: entry });
  const chain = ca.fulcioIntermediate.certPem + ca.fulcioRoot.certPem;
  const bundle: Record<string, unknown> = {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      certificate: { rawBytes: der(leafPem).toString('base64') },
      tlogEntries: [
        {
          logIndex: String(entry.logIndex),
          logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
          kindVersion: { kind: body.kind, version: '0.0.1' },
          integratedTime: String(entry.integratedTime),
          inclusionPromise: { signedEntryTimestamp: set },
          canonicalizedBody: bodyB64,
        },
      ],
    },
  };
  if (opts.dsse) {
    bundle.dsseEnvelope = {
      payload: payload.toString('base64'),
      payloadType,
      signatures: [{ sig: signature }],
    };
  } else {
    bundle.messageSignature = {
      messageDigest: {
        algorithm: 'SHA2_256',
        digest: createHash('sha256').update(payload).digest('base64'),
      },
      signature,
    };
  }
  const sigstoreBundle = JSON.stringify(bundle);
  return {
    payload,
    signature,
    certificate: leafPem,
    chain,
    rekorBundle,
    sigstoreBundle,
    artifact: opts.dsse
      ? bundleReferrer(sigstoreBundle, subject, opts.predicateType)
      : cosignManifest(
          [{ payload, signature, certificate: leafPem, chain, bundle: rekorBundle }],
          subject,
          opts.via ?? 'tag',
        ),
    identity,
    issuer,
  };
}

/** DSSE's pre-authentication encoding. */
function paeBytes(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

/** A Sigstore bundle as cosign 3 attaches it: an OCI 1.1 referrer whose one layer is the
 * bundle. */
export function bundleReferrer(
  bundleJson: string,
  subject: Subject,
  predicateType = 'https://sigstore.dev/cosign/sign/v1',
): SignatureArtifact {
  const type = 'application/vnd.dev.sigstore.bundle.v0.3+json';
  const layer = blobOf(type, Buffer.from(bundleJson));
  const config = blobOf(MT.empty, Buffer.from('{}'));
  return artifact(
    {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: type,
      config: descriptorOf(config),
      layers: [descriptorOf(layer)],
      subject: subjectDescriptor(subject),
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': predicateType,
      },
    },
    [config, layer],
  );
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

// --- Notation ------------------------------------------------------------------------------

export interface NotationCa {
  dir: string;
  root: { key: Key; certPem: string; der: Buffer; path: string };
  intermediate: { key: Key; certPem: string; der: Buffer; path: string };
}

/** A test CA chain for Notation: a root (what the user imports) and an intermediate. */
export function makeNotationCa(dir = workDir(), name = 'Notation Test'): NotationCa {
  const now = Date.now();
  const rootKey = makeKey(dir, 'notation-root', 'p384');
  const interKey = makeKey(dir, 'notation-intermediate', 'p384');
  const rootPem = issue(
    dir,
    'nroot',
    'self',
    rootKey,
    `/C=US/O=${name}/CN=${name} Root`,
    ['basicConstraints = critical, CA:true', 'keyUsage = critical, keyCertSign, cRLSign'],
    new Date(now - 5 * YEAR),
    new Date(now + 5 * YEAR),
    '11',
  );
  const rootPath = join(dir, 'notation-root.pem');
  writeFileSync(rootPath, rootPem);
  const interPem = issue(
    dir,
    'ninter',
    { key: rootKey, certPath: rootPath },
    interKey,
    `/C=US/O=${name}/CN=${name} Intermediate`,
    [
      'basicConstraints = critical, CA:true, pathlen:0',
      'keyUsage = critical, keyCertSign, cRLSign',
    ],
    new Date(now - 4 * YEAR),
    new Date(now + 4 * YEAR),
    '12',
  );
  const interPath = join(dir, 'notation-intermediate.pem');
  writeFileSync(interPath, interPem);
  return {
    dir,
    root: { key: rootKey, certPem: rootPem, der: der(rootPem), path: rootPath },
    intermediate: { key: interKey, certPem: interPem, der: der(interPem), path: interPath },
  };
}

export interface NotationOptions {
  /** The leaf's key: P-256 (ES256, the default) or RSA (PS256). */
  kind?: 'p256' | 'rsa';
  /** The descriptor the payload names (default: the subject's). */
  target?: { mediaType: string; digest: string; size: number };
  signingTime?: Date;
  expiry?: Date;
  notBefore?: Date;
  notAfter?: Date;
  /** Leave out the code-signing extended key usage. */
  noCodeSigning?: boolean;
  /** COSE (the default here) or JWS (notation's default). */
  format?: 'cose' | 'jws';
  via?: 'referrer';
}

export interface NotationFixture {
  envelope: Buffer;
  artifact: SignatureArtifact;
  /** The leaf certificate (PEM) and its subject, as Notation shows it. */
  leafPem: string;
  subjectDn: string;
}

/**
 * `notation sign --signature-format cose`: a leaf certificate from `ca`, a COSE_Sign1 envelope
 * with the Notary headers and x5chain, the Sig_structure signed by openssl, in a referrer.
 */
export function makeNotationSignature(
  ca: NotationCa,
  subject: Subject,
  opts: NotationOptions = {},
): NotationFixture {
  const dir = workDir();
  const now = Date.now();
  const leafKey = makeKey(dir, 'notation-leaf', opts.kind ?? 'p256');
  const exts = ['keyUsage = critical, digitalSignature'];
  if (!opts.noCodeSigning) exts.push('extendedKeyUsage = codeSigning');
  const subjectDn = 'C=US, O=Notation Test, CN=signer.example.com';
  const leafPem = issue(
    dir,
    'nleaf',
    { key: ca.intermediate.key, certPath: ca.intermediate.path },
    leafKey,
    '/C=US/O=Notation Test/CN=signer.example.com',
    exts,
    opts.notBefore ?? new Date(now - YEAR),
    opts.notAfter ?? new Date(now + YEAR),
    '21',
  );
  const target = opts.target ?? {
    mediaType: subject.mediaType ?? MT.ociManifest,
    digest: subject.digest,
    size: subject.size ?? 0,
  };
  const payload = Buffer.from(JSON.stringify({ targetArtifact: target }));
  const signingTime = opts.signingTime ?? new Date(now - 60_000);
  const sigOf = (data: Buffer): Buffer =>
    opts.kind === 'rsa' ? signPss(leafKey, data) : ecdsaRaw(sign(leafKey, data, 'sha256'), 32);
  const crit: string[] = ['io.cncf.notary.signingScheme'];
  if (opts.expiry) crit.push('io.cncf.notary.expiry');
  const chainDer = [der(leafPem), ca.intermediate.der];
  let envelope: Buffer;
  if (opts.format === 'jws') {
    // Notation's default: JWS JSON serialisation, times as RFC 3339, x5c in standard base64.
    const b64url = (b: Buffer) => b.toString('base64url');
    const headers: Record<string, unknown> = {
      alg: opts.kind === 'rsa' ? 'PS256' : 'ES256',
      crit,
      cty: 'application/vnd.cncf.notary.payload.v1+json',
      'io.cncf.notary.signingScheme': 'notary.x509',
      'io.cncf.notary.signingTime': signingTime.toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    if (opts.expiry) {
      headers['io.cncf.notary.expiry'] = opts.expiry.toISOString().replace(/\.\d+Z$/, 'Z');
    }
    const protectedB64 = b64url(Buffer.from(JSON.stringify(headers)));
    const payloadB64 = b64url(payload);
    const signature = sigOf(Buffer.from(`${protectedB64}.${payloadB64}`));
    envelope = Buffer.from(
      JSON.stringify({
        payload: payloadB64,
        protected: protectedB64,
        header: {
          x5c: chainDer.map((d) => d.toString('base64')),
          'io.cncf.notary.signingAgent': 'berth-test/1.0',
        },
        signature: b64url(signature),
      }),
    );
  } else {
    const headers = new Map<number | string, unknown>([
      [1, opts.kind === 'rsa' ? -37 : -7],
      [2, crit],
      [3, 'application/vnd.cncf.notary.payload.v1+json'],
      ['io.cncf.notary.signingScheme', 'notary.x509'],
      ['io.cncf.notary.signingTime', new Tag(1, Math.floor(signingTime.getTime() / 1000))],
    ]);
    if (opts.expiry) {
      headers.set('io.cncf.notary.expiry', new Tag(1, Math.floor(opts.expiry.getTime() / 1000)));
    }
    const protectedBytes = Buffer.from(encode(headers));
    // cbor2 encodes a Node Buffer as an object, not a byte string: hand it plain Uint8Arrays.
    const toBeSigned = Buffer.from(
      encode(['Signature1', u8(protectedBytes), new Uint8Array(0), u8(payload)]),
    );
    const signature = sigOf(toBeSigned);
    const unprotected = new Map<number | string, unknown>([
      [33, chainDer.map((b) => new Uint8Array(b))],
      ['io.cncf.notary.signingAgent', 'berth-test/1.0'],
    ]);
    envelope = Buffer.from(
      encode(new Tag(18, [u8(protectedBytes), unprotected, u8(payload), u8(signature)])),
    );
  }
  const layer = blobOf(opts.format === 'jws' ? MT.jws : MT.cose, envelope);
  const config = blobOf(MT.empty, Buffer.from('{}'));
  const a = artifact(
    {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: MT.notation,
      config: descriptorOf(config),
      layers: [descriptorOf(layer)],
      subject: subjectDescriptor(subject),
      annotations: {
        'io.cncf.notary.x509chain.thumbprint#S256': JSON.stringify(
          chainDer.map((b) => sha256Hex(b)),
        ),
      },
    },
    [config, layer],
  );
  return { envelope, artifact: a, leafPem, subjectDn };
}

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b);
}

/** An ECDSA DER signature as COSE's fixed-width r||s. */
function ecdsaRaw(sig: Buffer, size: number): Buffer {
  // SEQUENCE { INTEGER r, INTEGER s }, short lengths for P-256.
  let at = 2;
  const out = Buffer.alloc(2 * size);
  for (let i = 0; i < 2; i++) {
    const len = sig[at + 1]!;
    let v = sig.subarray(at + 2, at + 2 + len);
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    v.copy(out, i * size + size - v.length);
    at += 2 + len;
  }
  return out;
}

// --- Pushing ---------------------------------------------------------------------------------

/** Where a signature artifact goes: the in-memory registry of unit tests (its blob and manifest
 * methods), or a real registry's base URL (`http://127.0.0.1:5000`). */
export interface MemoryTarget {
  blob(repository: string, bytes: Uint8Array, mediaType: string): { digest: string };
  manifest(repository: string, doc: { mediaType: string }, tag?: string): { digest: string };
}

/**
 * Pushes a signature artifact: its blobs, then its manifest under its `.sig` tag (cosign's tag
 * scheme) or by digest (a referrer; with a `subject`, a registry with the referrers API lists
 * it). Returns the manifest's digest, which equals `artifact.digest`.
 */
export async function pushSignature(
  target: MemoryTarget | string,
  repository: string,
  a: SignatureArtifact,
  headers: Record<string, string> = {},
): Promise<string> {
  if (typeof target !== 'string') {
    for (const b of a.blobs) target.blob(repository, new Uint8Array(b.bytes), b.mediaType);
    const { digest } = target.manifest(
      repository,
      a.manifest as unknown as { mediaType: string },
      a.tag,
    );
    if (digest !== a.digest) throw new Error(`pushed ${digest}, expected ${a.digest}`);
    return digest;
  }
  const base = `${target.replace(/\/$/, '')}/v2/${repository}`;
  for (const b of a.blobs) {
    const head = await fetch(`${base}/blobs/${b.digest}`, { method: 'HEAD', headers });
    if (head.ok) continue;
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST', headers });
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) {
      throw new Error(`blob upload for ${b.digest}: ${start.status}`);
    }
    const url = new URL(location, target);
    url.searchParams.set('digest', b.digest);
    const put = await fetch(url, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(b.bytes),
    });
    if (put.status !== 201) throw new Error(`blob ${b.digest}: ${put.status} ${await put.text()}`);
  }
  const put = await fetch(`${base}/manifests/${a.tag ?? a.digest}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': a.mediaType },
    body: new Uint8Array(a.manifestBytes),
  });
  if (put.status !== 201)
    throw new Error(`manifest ${a.digest}: ${put.status} ${await put.text()}`);
  return a.digest;
}
