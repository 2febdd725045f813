// The command lines that repeat what a view shows with the tools people already use: crane,
// skopeo, regctl, docker and podman, and oras. Each builder takes plain values (what the view
// knows) and returns finished text; every argument goes through one quoter. Credentials are
// never an input, so they cannot appear. Flags are spelled as each tool documents them:
//   crane:  global --insecure and --platform os/arch[/variant];
//   skopeo: global --override-os/--override-arch/--override-variant, --tls-verify=false on
//           inspect, --src-tls-verify=false on copy; it has no command that fetches a blob;
//   regctl: --platform on the command, and plain http set once with `registry set --tls
//           disabled`; `manifest diff` and `blob diff-config` compare (there is no image diff);
//   docker: --platform; plain http is daemon configuration, not a flag;
//   podman: --platform and --tls-verify=false;
//   oras:   --plain-http and --platform; `blob fetch --output -` writes to stdout.
import { archiveFileName } from '../export/oci-archive.ts';
import { layerCompression } from '../oci/mediatypes.ts';
import type { Platform } from '../oci/types.ts';
import { familiarName, repositoryOf, type Reference } from '../reference/reference.ts';
import { isLoopbackHost } from '../registry/transport.ts';
import { shellJoin, shellQuote } from './quote.ts';

export type Tool = 'crane' | 'skopeo' | 'regctl' | 'docker' | 'podman' | 'oras';

export interface Command {
  tool: Tool;
  /** What the command shows or does, e.g. "Manifest". */
  title: string;
  /** The text to paste into a POSIX shell; more than one line when a tool needs setting up. */
  text: string;
  /** The same, line by line: a newline inside a quoted argument (a file name's) is not a line
   * break here, so a page can show it escaped. */
  lines: string[];
}

/** A command as the builders write it: its lines joined with NUL, which no argument can hold
 * (shellQuote refuses it), so that `finish` tells them from a newline in a quoted name. */
type Draft = Omit<Command, 'lines'>;

function finish(d: Draft): Command {
  const lines = d.text.split('\0');
  return { ...d, text: lines.join('\n'), lines };
}

/** An image as a view knows it. */
export interface ImageTarget {
  /** Registry and repository, with the tag and digest as typed (either may be missing). */
  ref: Reference;
  /** The manifest on screen: for an index, the chosen platform's own manifest. */
  manifestDigest?: string;
  /** The platform chosen from an index; unset when the reference names one manifest. */
  platform?: Platform;
  /** The registry speaks plain http (or has a certificate the tools should not verify). */
  insecure: boolean;
}

export interface CommandOptions {
  /** Name the manifest by its digest, so that the commands see exactly what Berth showed even
   * if the tag moves. Needs `manifestDigest`. */
  pinned: boolean;
}

/** How a tool is told the image. */
interface Named {
  /** registry/repository[:tag|@digest], the form every tool but docker reads. */
  full: string;
  /** The same in docker's short form: alpine:3.20, user/app@sha256:…. */
  familiar: string;
  /** registry/repository alone. */
  repository: string;
  /** Whether platform flags are needed: the reference names an index and is not pinned to
   * the platform's manifest. */
  platform?: Platform;
}

function named(t: ImageTarget, opts: CommandOptions): Named {
  const base = { registry: t.ref.registry, repository: t.ref.repository };
  const pinned = opts.pinned && t.manifestDigest !== undefined;
  // skopeo and crane refuse a reference with both a tag and a digest: the digest wins.
  const ref: Reference = pinned
    ? { ...base, digest: t.manifestDigest }
    : t.ref.digest
      ? { ...base, digest: t.ref.digest }
      : { ...base, tag: t.ref.tag ?? 'latest' };
  return {
    full: repositoryOf(ref) + (ref.digest ? `@${ref.digest}` : `:${ref.tag}`),
    familiar: familiarName(ref),
    repository: repositoryOf(base),
    ...(!pinned && t.platform ? { platform: t.platform } : {}),
  };
}

/** os/arch[/variant], as crane, regctl, docker, podman and oras all spell it. */
export function platformText(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

const platformFlag = (p: Platform | undefined) => (p ? ['--platform', platformText(p)] : []);

/** skopeo picks from an index by overriding what it would read from the machine. */
function skopeoPlatform(p: Platform | undefined): string[] {
  if (!p) return [];
  const flags = ['--override-os', p.os, '--override-arch', p.architecture];
  if (p.variant) flags.push('--override-variant', p.variant);
  return flags;
}

const craneGlobal = (t: ImageTarget, p?: Platform) => [
  ...(t.insecure ? ['--insecure'] : []),
  ...platformFlag(p),
];

/** regctl keeps plain http as registry configuration: a first line sets it. */
function regctlSetup(targets: readonly ImageTarget[]): string[] {
  const hosts = [...new Set(targets.filter((t) => t.insecure).map((t) => t.ref.registry))];
  return hosts.map((h) => shellJoin(['regctl', 'registry', 'set', h, '--tls', 'disabled']));
}

/** docker has no flag for plain http: its daemon must list the registry, except loopback
 * registries, which it already reaches over http. */
function dockerNote(t: ImageTarget): string[] {
  if (!t.insecure || isLoopbackHost(t.ref.registry)) return [];
  return [
    `# ${t.ref.registry} needs "insecure-registries": [${JSON.stringify(t.ref.registry)}] in /etc/docker/daemon.json`,
  ];
}

const lines = (...parts: (string | string[])[]) => parts.flat().join('\0');

const docker = (t: ImageTarget, p: Platform | undefined) => ({
  podmanTls: t.insecure ? ['--tls-verify=false'] : [],
  platform: platformFlag(p),
});

/** The commands of the image view: manifest, config, the OCI archive Berth's download gives,
 * and a pull into a local engine. */
export function imageCommands(t: ImageTarget, opts: CommandOptions): Command[] {
  return draftImageCommands(t, opts).map(finish);
}

function draftImageCommands(t: ImageTarget, opts: CommandOptions): Draft[] {
  const n = named(t, opts);
  const p = n.platform;
  const docker_ = docker(t, p);
  const tlsInspect = t.insecure ? ['--tls-verify=false'] : [];
  const plainHttp = t.insecure ? ['--plain-http'] : [];
  const archive = archiveFileName(t.ref, t.manifestDigest ?? t.ref.digest ?? '');
  const archiveRef = `oci-archive:${archive}${t.ref.tag ? `:${t.ref.tag}` : ''}`;
  const layoutDir = archive.replace(/\.tar$/, '');
  const regctl = regctlSetup([t]);
  return [
    {
      tool: 'crane',
      title: 'Manifest',
      text: shellJoin(['crane', ...craneGlobal(t, p), 'manifest', n.full]),
    },
    {
      tool: 'crane',
      title: 'Config',
      text: shellJoin(['crane', ...craneGlobal(t, p), 'config', n.full]),
    },
    {
      tool: 'crane',
      title: 'Pull as an OCI layout',
      text: shellJoin(['crane', ...craneGlobal(t, p), 'pull', '--format=oci', n.full, layoutDir]),
    },
    {
      tool: 'skopeo',
      title: 'Inspect',
      text: shellJoin([
        'skopeo',
        ...skopeoPlatform(p),
        'inspect',
        ...tlsInspect,
        `docker://${n.full}`,
      ]),
    },
    {
      tool: 'skopeo',
      // --raw shows the document the reference names, and ignores the platform overrides.
      title: p ? 'Raw index' : 'Raw manifest',
      text: shellJoin(['skopeo', 'inspect', '--raw', ...tlsInspect, `docker://${n.full}`]),
    },
    {
      tool: 'skopeo',
      title: 'Config',
      text: shellJoin([
        'skopeo',
        ...skopeoPlatform(p),
        'inspect',
        '--config',
        ...tlsInspect,
        `docker://${n.full}`,
      ]),
    },
    {
      tool: 'skopeo',
      title: 'Download as an OCI archive',
      text: shellJoin([
        'skopeo',
        ...skopeoPlatform(p),
        'copy',
        ...(t.insecure ? ['--src-tls-verify=false'] : []),
        `docker://${n.full}`,
        archiveRef,
      ]),
    },
    {
      tool: 'regctl',
      title: 'Manifest',
      text: lines(regctl, shellJoin(['regctl', 'manifest', 'get', ...platformFlag(p), n.full])),
    },
    {
      tool: 'regctl',
      title: 'Config',
      text: lines(regctl, shellJoin(['regctl', 'image', 'inspect', ...platformFlag(p), n.full])),
    },
    {
      tool: 'docker',
      title: 'Pull',
      text: lines(dockerNote(t), shellJoin(['docker', 'pull', ...docker_.platform, n.familiar])),
    },
    {
      tool: 'podman',
      title: 'Pull',
      text: shellJoin(['podman', 'pull', ...docker_.podmanTls, ...docker_.platform, n.full]),
    },
    {
      tool: 'oras',
      title: 'Manifest',
      text: shellJoin(['oras', 'manifest', 'fetch', ...plainHttp, ...platformFlag(p), n.full]),
    },
    {
      tool: 'oras',
      title: 'Config',
      text: shellJoin([
        'oras',
        'manifest',
        'fetch-config',
        ...plainHttp,
        ...platformFlag(p),
        n.full,
      ]),
    },
  ];
}

/** One layer: its blob and the tools that read it. */
export interface LayerTarget {
  digest: string;
  mediaType: string;
}

/** How a layer blob becomes a tar on a pipe: nothing, or a decompressor. */
function untar(mediaType: string, tarArgs: string[]): string {
  const c = layerCompression(mediaType);
  if (c === 'gzip') return shellJoin(['tar', `${tarArgs[0]}z`, ...tarArgs.slice(1)]);
  const tar = shellJoin(['tar', ...tarArgs]);
  return c === 'zstd' ? `zstd -dc | ${tar}` : tar;
}

/** Pipes each tool's copy of a layer blob into `rest`. skopeo fetches no single blob, so it
 * has none. */
function blobPipes(t: ImageTarget, layer: LayerTarget, rest: string, title: string): Draft[] {
  const repo = repositoryOf(t.ref);
  const at = `${repo}@${layer.digest}`;
  return [
    {
      tool: 'crane',
      title,
      text: `${shellJoin(['crane', ...craneGlobal(t), 'blob', at])} | ${rest}`,
    },
    {
      tool: 'regctl',
      title,
      text: lines(
        regctlSetup([t]),
        `${shellJoin(['regctl', 'blob', 'get', repo, layer.digest])} | ${rest}`,
      ),
    },
    {
      tool: 'oras',
      title,
      text: `${shellJoin(['oras', 'blob', 'fetch', ...(t.insecure ? ['--plain-http'] : []), '--output', '-', at])} | ${rest}`,
    },
  ];
}

/** The commands of a layer: list its files from the blob. */
export function layerCommands(t: ImageTarget, layer: LayerTarget): Command[] {
  return draftLayerCommands(t, layer).map(finish);
}

function draftLayerCommands(t: ImageTarget, layer: LayerTarget): Draft[] {
  return blobPipes(t, layer, untar(layer.mediaType, ['-tv', '-f', '-']), 'List the layer');
}

/** The commands of the merged filesystem: list what an export of the image holds, whiteouts
 * applied, by crane or through a container an engine creates (and removes). */
export function mergedCommands(t: ImageTarget, opts: CommandOptions): Command[] {
  return draftMergedCommands(t, opts).map(finish);
}

function draftMergedCommands(t: ImageTarget, opts: CommandOptions): Draft[] {
  const n = named(t, opts);
  const list = shellJoin(['tar', '-tv', '-f', '-']);
  const title = 'List the merged filesystem';
  const engine = (tool: 'docker' | 'podman'): Draft => {
    const create = createLine(tool, t, n);
    return {
      tool,
      title,
      text: lines(
        tool === 'docker' ? dockerNote(t) : [],
        `id=$(${create}) && ${tool} export "$id" | ${list}; ${tool} rm "$id"`,
      ),
    };
  };
  return [
    {
      tool: 'crane',
      title,
      text: `${shellJoin(['crane', ...craneGlobal(t, n.platform), 'export', n.full, '-'])} | ${list}`,
    },
    engine('docker'),
    engine('podman'),
  ];
}

/** `docker create` or `podman create` of the image. An image that names no command (Cmd or
 * Entrypoint) cannot be created without one; the container is never started, so any word does. */
function createLine(tool: 'docker' | 'podman', t: ImageTarget, n: Named): string {
  const d = docker(t, n.platform);
  return shellJoin([
    tool,
    'create',
    ...(tool === 'podman' ? d.podmanTls : []),
    ...d.platform,
    tool === 'docker' ? n.familiar : n.full,
    'true',
  ]);
}

/** A file as a view shows it: from one layer, or from the merged filesystem. */
export interface FileTarget {
  /** The path in the image, with or without a leading slash. */
  path: string;
  /** The layer the shown copy is read from; unset for the merged view's file when the layer
   * is not known. */
  layer?: LayerTarget;
}

/** A path as tar names it in a layer: no leading slash. */
const memberName = (path: string) => path.replace(/^\/+/, '');

/** The commands of a file: that layer's copy out of its blob, the merged filesystem's copy out
 * of an export, and the same through a container an engine creates (and removes). */
export function fileCommands(t: ImageTarget, file: FileTarget, opts: CommandOptions): Command[] {
  return draftFileCommands(t, file, opts).map(finish);
}

function draftFileCommands(t: ImageTarget, file: FileTarget, opts: CommandOptions): Draft[] {
  const n = named(t, opts);
  const member = memberName(file.path);
  const extract = (tarArgs: string[]) => [...tarArgs, '--', member];
  const out: Draft[] = [];
  if (file.layer) {
    out.push(
      ...blobPipes(
        t,
        file.layer,
        untar(file.layer.mediaType, extract(['-xO', '-f', '-'])),
        "This layer's copy",
      ),
    );
  }
  out.push({
    tool: 'crane',
    title: 'Merged filesystem',
    text: `${shellJoin(['crane', ...craneGlobal(t, n.platform), 'export', n.full, '-'])} | ${shellJoin(['tar', ...extract(['-xO', '-f', '-'])])}`,
  });
  const abs = `/${member}`;
  const engine = (tool: 'docker' | 'podman'): Draft => {
    const create = createLine(tool, t, n);
    return {
      tool,
      title: 'Merged filesystem',
      text: lines(
        tool === 'docker' ? dockerNote(t) : [],
        `id=$(${create}) && ${tool} cp "$id":${shellQuote(abs)} - | tar -xO -f -; ${tool} rm "$id"`,
      ),
    };
  };
  out.push(engine('docker'), engine('podman'));
  return out;
}

/** The second image of a comparison carries its config digest when it is known, for regctl's
 * config diff. */
export interface CompareTarget extends ImageTarget {
  configDigest?: string;
}

/** The commands of a comparison: both configs and both manifests, side by side. Process
 * substitution needs bash or zsh. */
export function compareCommands(
  a: CompareTarget,
  b: CompareTarget,
  opts: CommandOptions,
): Command[] {
  return draftCompareCommands(a, b, opts).map(finish);
}

function draftCompareCommands(a: CompareTarget, b: CompareTarget, opts: CommandOptions): Draft[] {
  const na = named(a, opts);
  const nb = named(b, opts);
  const jq = 'jq -S .';
  const both = (one: (t: ImageTarget, n: Named) => string) =>
    `diff <(${one(a, na)} | ${jq}) <(${one(b, nb)} | ${jq})`;
  const out: Draft[] = [
    {
      tool: 'crane',
      title: 'Configs',
      text: both((t, n) => shellJoin(['crane', ...craneGlobal(t, n.platform), 'config', n.full])),
    },
    {
      tool: 'crane',
      title: 'Manifests',
      text: both((t, n) => shellJoin(['crane', ...craneGlobal(t, n.platform), 'manifest', n.full])),
    },
    {
      tool: 'skopeo',
      title: 'Configs',
      text: both((t, n) =>
        shellJoin([
          'skopeo',
          ...skopeoPlatform(n.platform),
          'inspect',
          '--config',
          ...(t.insecure ? ['--tls-verify=false'] : []),
          `docker://${n.full}`,
        ]),
      ),
    },
    {
      tool: 'skopeo',
      title: 'Inspect',
      text: both((t, n) =>
        shellJoin([
          'skopeo',
          ...skopeoPlatform(n.platform),
          'inspect',
          ...(t.insecure ? ['--tls-verify=false'] : []),
          `docker://${n.full}`,
        ]),
      ),
    },
  ];
  const setup = regctlSetup([a, b]);
  // regctl's manifest diff takes no platform: it compares what the references name, so it is
  // offered only when neither names an index it would have to choose from.
  if (!na.platform && !nb.platform) {
    out.push({
      tool: 'regctl',
      title: 'Manifests',
      text: lines(setup, shellJoin(['regctl', 'manifest', 'diff', na.full, nb.full])),
    });
  }
  if (a.configDigest && b.configDigest) {
    out.push({
      tool: 'regctl',
      title: 'Configs',
      text: lines(
        setup,
        shellJoin([
          'regctl',
          'blob',
          'diff-config',
          na.repository,
          a.configDigest,
          nb.repository,
          b.configDigest,
        ]),
      ),
    });
  }
  return out;
}
