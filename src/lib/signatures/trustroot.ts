// Reading a Sigstore trusted root (application/vnd.dev.sigstore.trustedroot+json): the shipped
// public-good one, or one the user imports (a private Sigstore, or a test one).
import { fromBase64, hex } from './bytes.ts';
import type { SigstoreTrustRoot } from './types.ts';
import shipped from './trusted_root.json';

interface Window {
  start?: string;
  end?: string;
}

interface KeyEntry {
  baseUrl?: string;
  publicKey?: { rawBytes?: string; validFor?: Window };
  logId?: { keyId?: string };
}

function date(s: unknown, what: string): Date {
  const d = typeof s === 'string' ? new Date(s) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new Error(`the trusted root's ${what} has no valid time`);
  return d;
}

function logs(list: unknown, what: string): SigstoreTrustRoot['tlogs'] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new Error(`the trusted root's ${what} is not a list`);
  return (list as KeyEntry[]).map((l, i) => {
    const raw = l?.publicKey?.rawBytes;
    const keyId = l?.logId?.keyId;
    if (typeof raw !== 'string' || typeof keyId !== 'string') {
      throw new Error(`the trusted root's ${what}[${i}] has no public key or log id`);
    }
    const entry: SigstoreTrustRoot['tlogs'][number] = {
      logId: hex(fromBase64(keyId)),
      publicKey: fromBase64(raw),
      validFrom: date(l.publicKey?.validFor?.start, `${what}[${i}] start`),
    };
    if (l.baseUrl) entry.baseUrl = l.baseUrl;
    if (l.publicKey?.validFor?.end) {
      entry.validTo = date(l.publicKey.validFor.end, `${what}[${i}] end`);
    }
    return entry;
  });
}

interface RootJson {
  mediaType?: unknown;
  tlogs?: unknown;
  ctlogs?: unknown;
  certificateAuthorities?: unknown;
}

/** Parses a Sigstore trusted_root.json; throws with what is wrong when it is not one. */
export function parseTrustedRoot(json: string): SigstoreTrustRoot {
  let doc: RootJson;
  try {
    doc = JSON.parse(json) as RootJson;
  } catch {
    throw new Error('the trusted root is not JSON');
  }
  return trustRootOf(doc);
}

/** The trusted root Berth ships: Sigstore's public-good instance (see README.md here). */
export function shippedTrustRoot(): SigstoreTrustRoot {
  return trustRootOf(shipped as RootJson);
}

function trustRootOf(doc: RootJson): SigstoreTrustRoot {
  if (typeof doc !== 'object' || doc === null) throw new Error('the trusted root is not an object');
  if (
    typeof doc.mediaType === 'string' &&
    !doc.mediaType.startsWith('application/vnd.dev.sigstore.trustedroot')
  ) {
    throw new Error(`a ${doc.mediaType}, not a Sigstore trusted root`);
  }
  const cas = doc.certificateAuthorities;
  if (!Array.isArray(cas) || cas.length === 0) {
    throw new Error('the trusted root names no certificate authority');
  }
  return {
    certificateAuthorities: (
      cas as {
        uri?: string;
        certChain?: { certificates?: { rawBytes?: string }[] };
        validFor?: Window;
      }[]
    ).map((ca, i) => {
      const certs = ca?.certChain?.certificates;
      if (!Array.isArray(certs) || certs.length === 0) {
        throw new Error(`the trusted root's certificateAuthorities[${i}] has no certificates`);
      }
      const entry: SigstoreTrustRoot['certificateAuthorities'][number] = {
        chain: certs.map((c) => fromBase64(String(c?.rawBytes ?? ''))),
        validFrom: date(ca.validFor?.start, `certificateAuthorities[${i}] start`),
      };
      if (ca.uri) entry.uri = ca.uri;
      if (ca.validFor?.end)
        entry.validTo = date(ca.validFor.end, `certificateAuthorities[${i}] end`);
      return entry;
    }),
    tlogs: logs(doc.tlogs, 'tlogs'),
    ctlogs: logs(doc.ctlogs, 'ctlogs'),
  };
}

/** Whether `t` falls in [from, to]; an open end is forever. */
export function within(t: Date, from: Date, to?: Date): boolean {
  return t.getTime() >= from.getTime() && (to === undefined || t.getTime() <= to.getTime());
}
