#!/usr/bin/env node
// Checks the system tools the tests need (real registry, skopeo, Chromium, …). Silent and
// exit 0 when all are there. Otherwise installs the missing Debian packages when running as
// root with apt-get, or prints what to install and exits 1.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, openSync, readSync, closeSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What must exist → the Debian package that provides it. */
const REQUIRED = [
  { what: '/usr/bin/chromium', pkg: 'chromium', check: () => isExecutable('/usr/bin/chromium') },
  { what: 'docker-registry', pkg: 'docker-registry', check: () => onPath('docker-registry') },
  { what: 'skopeo', pkg: 'skopeo', check: () => onPath('skopeo') },
  { what: 'umoci', pkg: 'umoci', check: () => onPath('umoci') },
  { what: 'static /bin/busybox', pkg: 'busybox-static', check: () => isStaticElf('/bin/busybox') },
  { what: 'tar (GNU)', pkg: 'tar', check: () => onPath('tar') },
  { what: 'gzip', pkg: 'gzip', check: () => onPath('gzip') },
  { what: 'zstd', pkg: 'zstd', check: () => onPath('zstd') },
  { what: 'jq', pkg: 'jq', check: () => onPath('jq') },
  { what: 'sha256sum', pkg: 'coreutils', check: () => onPath('sha256sum') },
  // The htpasswd test registry hashes passwords with bcrypt through perl's crypt().
  { what: 'perl', pkg: 'perl-base', check: () => onPath('perl') },
  // The token-auth test registry's signing certificate is made with openssl, and so are the
  // signature fixtures (keys, test CAs, cosign and Notation signatures: test/harness/signing.ts)
  // and the secret scan's test private keys (test/harness/secrets.ts).
  { what: 'openssl', pkg: 'openssl', check: () => onPath('openssl') },
  // The offline internet (test/harness/internet) is a network namespace made with `ip netns`.
  { what: 'ip (iproute2)', pkg: 'iproute2', check: () => onPath('ip') },
  // The RPM database tests (test/integration/packages-os-rpm.test.ts) build real packages and
  // databases with rpmbuild and rpm, and the Berkeley DB Packages file with db_load.
  { what: 'rpmbuild', pkg: 'rpm', check: () => onPath('rpmbuild') },
  { what: 'db_load', pkg: 'db-util', check: () => onPath('db_load') },
  // The language package tests (test/unit/packages-lang-*.test.ts) compare with the tools'
  // own answers: `go version -m`, importlib.metadata, and build jars and ELF files at test time.
  { what: 'go', pkg: 'golang-go', check: () => onPath('go') },
  { what: 'python3', pkg: 'python3', check: () => isExecutable('/usr/bin/python3') },
  { what: 'zip', pkg: 'zip', check: () => onPath('zip') },
  { what: 'unzip', pkg: 'unzip', check: () => onPath('unzip') },
  { what: 'objcopy', pkg: 'binutils', check: () => onPath('objcopy') },
  // Version order compared with Python's packaging and Maven's ComparableVersion
  // (test/unit/packages-lang-versions.test.ts).
  {
    what: "Debian python3's packaging",
    pkg: 'python3-packaging',
    check: () => spawnSync('/usr/bin/python3', ['-c', 'import packaging.version']).status === 0,
  },
  {
    what: 'Maven',
    pkg: 'maven',
    check: () => exists('/usr/share/maven/lib/maven-artifact-3.x.jar'),
  },
  {
    what: 'a jar with pom.properties',
    pkg: 'libcommons-lang3-java',
    check: () => isExecutable('/usr/share/java') && exists('/usr/share/java/commons-lang3.jar'),
  },
];

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function exists(path) {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(cmd) {
  const dirs = (process.env.PATH || '/usr/local/bin:/usr/bin:/bin').split(delimiter);
  return dirs.some((d) => d && isExecutable(join(d, cmd)));
}

/** An executable ELF file with no PT_INTERP program header, i.e. statically linked. */
function isStaticElf(path) {
  if (!isExecutable(path)) return false;
  let fd;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) return false; // \x7fELF
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b, o) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b, o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64
      ? Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32))
      : u32(head, 28);
    const phentsize = u16(head, is64 ? 54 : 42);
    const phnum = u16(head, is64 ? 56 : 44);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (u32(ph, i * phentsize) === 3) return false; // PT_INTERP: dynamically linked
    }
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const missing = REQUIRED.filter((r) => !r.check());
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.map((r) => r.pkg))];
const list = missing.map((r) => `  ${r.what} (Debian package ${r.pkg})`).join('\n');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

if (isRoot && onPath('apt-get')) {
  console.error(
    `require-system: missing:\n${list}\nrequire-system: installing ${packages.join(' ')}`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
  if (!apt(['update']) || !apt(['install', '-y', '--no-install-recommends', ...packages])) {
    console.error('require-system: apt-get failed');
    process.exit(1);
  }
  const still = REQUIRED.filter((r) => !r.check());
  if (still.length > 0) {
    console.error(
      `require-system: still missing after install: ${still.map((r) => r.what).join(', ')}`,
    );
    process.exit(1);
  }
  process.exit(0);
}

console.error(
  `require-system: these tools are missing:\n${list}\n\nInstall them with:\n  sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`,
);
process.exit(1);
