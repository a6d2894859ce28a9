/**
 * The names other machines can reach this one by, for the generated server certificate: its
 * host name (and its fully qualified name when one can be found) and its non-loopback
 * addresses. Each source is read only when Deno already allows it (never a permission prompt);
 * what could not be read is named in {@linkcode MachineNames.unreadable}.
 *
 * @module
 */

/** This machine's names, as {@linkcode machineNames} found them. */
export interface MachineNames {
  /** Host names: `Deno.hostname()` and its fully qualified name when found. */
  hostNames: string[];
  /** Non-loopback, non-link-local addresses of the network interfaces. */
  addresses: string[];
  /** The `--allow-sys` kinds that were not granted (`hostname`, `networkInterfaces`). */
  unreadable: string[];
}

/** Where {@linkcode machineNames} reads from; every member has a real default. */
export interface MachineSources {
  /** The host name (default `Deno.hostname()`). */
  hostname?: () => string;
  /** The network interfaces (default `Deno.networkInterfaces()`). */
  interfaces?: () => Deno.NetworkInterfaceInfo[];
  /** A text file's content, or `null` when it cannot be read (default: `Deno.readTextFile`). */
  readText?: (path: string) => Promise<string | null>;
  /** Whether `name` has an address in DNS (default: `Deno.resolveDns`, A then AAAA, 1.5 s). */
  resolves?: (name: string) => Promise<boolean>;
}

const DNS_TIMEOUT_MS = 1500;

/**
 * The host name(s) and non-loopback addresses of this machine.
 *
 * The fully qualified name is the host name itself when it holds a dot; else a longer name on
 * an `/etc/hosts` line that names the host (`127.0.1.1 box.example.org box`); else the host
 * name under the `domain` (or first `search`) domain of `/etc/resolv.conf`, kept only when DNS
 * resolves it. Names that are not valid host names are left out.
 */
export async function machineNames(sources: MachineSources = {}): Promise<MachineNames> {
  const unreadable: string[] = [];
  const hostNames: string[] = [];
  const hostname = sources.hostname ?? (granted("sys", "hostname") ? () => Deno.hostname() : null);
  const host = hostname === null ? "" : safe(hostname, "").trim().toLowerCase();
  if (hostname === null) unreadable.push("hostname");
  if (isHostName(host)) {
    const fqdn = host.includes(".") ? host : await findFqdn(host, sources);
    hostNames.push(...new Set(fqdn === undefined ? [host] : [fqdn, host]));
  }

  const interfaces = sources.interfaces ??
    (granted("sys", "networkInterfaces") ? () => Deno.networkInterfaces() : null);
  if (interfaces === null) unreadable.push("networkInterfaces");
  const addresses = interfaces === null ? [] : reachableAddresses(safe(interfaces, []));
  return { hostNames, addresses, unreadable };
}

/**
 * The addresses of `interfaces` that another machine could connect to: every address but
 * loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16, fe80::/10: they need a zone) and
 * unspecified ones, without duplicates, IPv4 first.
 */
export function reachableAddresses(interfaces: readonly Deno.NetworkInterfaceInfo[]): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const { family, address } of interfaces) {
    const bare = address.split("%")[0].toLowerCase();
    if (family === "IPv4") {
      if (/^(?:127\.|169\.254\.|0\.)/.test(bare)) continue;
      if (!v4.includes(bare)) v4.push(bare);
    } else {
      if (bare === "::1" || bare === "::" || /^fe[89ab][0-9a-f]:/.test(bare)) continue;
      if (bare.startsWith("::ffff:")) continue; // an IPv4 address, listed as such already
      if (!v6.includes(bare)) v6.push(bare);
    }
  }
  return [...v4, ...v6];
}

/**
 * Longer names of `host` on `/etc/hosts` lines that name it (`127.0.1.1 box.example.org box`):
 * those beginning with `host.`, in file order.
 */
export function fqdnsFromHosts(host: string, hostsText: string): string[] {
  const found: string[] = [];
  for (const line of hostsText.split("\n")) {
    const names = line.replace(/#.*/, "").trim().split(/\s+/).slice(1)
      .map((n) => n.toLowerCase());
    if (!names.includes(host)) continue;
    for (const name of names) {
      if (name.startsWith(`${host}.`) && isHostName(name) && !found.includes(name)) {
        found.push(name);
      }
    }
  }
  return found;
}

/** The `domain` of a resolv.conf text, else its first `search` domain. */
export function searchDomain(resolvText: string): string | undefined {
  let search: string | undefined;
  for (const line of resolvText.split("\n")) {
    const [key, value] = line.replace(/[#;].*/, "").trim().split(/\s+/);
    if (value === undefined || value === ".") continue;
    if (key === "domain") return value.toLowerCase().replace(/\.$/, "");
    if (key === "search") search ??= value.toLowerCase().replace(/\.$/, "");
  }
  return search;
}

/** True for a syntactically valid DNS host name (letters, digits, `-`, `_`; dots between). */
export function isHostName(name: string): boolean {
  return name.length > 0 && name.length <= 253 &&
    /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/i.test(name);
}

async function findFqdn(host: string, sources: MachineSources): Promise<string | undefined> {
  const readText = sources.readText ?? readTextIfAllowed;
  const hosts = await readText("/etc/hosts");
  const listed = hosts === null ? [] : fqdnsFromHosts(host, hosts);
  if (listed.length > 0) return listed[0];
  const resolv = await readText("/etc/resolv.conf");
  const domain = resolv === null ? undefined : searchDomain(resolv);
  if (domain === undefined) return undefined;
  const candidate = `${host}.${domain}`;
  if (!isHostName(candidate)) return undefined;
  const resolves = sources.resolves ?? (granted("net") ? resolvesInDns : null);
  return resolves !== null && await resolves(candidate).catch(() => false) ? candidate : undefined;
}

async function readTextIfAllowed(path: string): Promise<string | null> {
  if (!granted("read", path)) return null;
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

async function resolvesInDns(name: string): Promise<boolean> {
  const signal = AbortSignal.timeout(DNS_TIMEOUT_MS);
  for (const type of ["A", "AAAA"] as const) {
    try {
      if ((await Deno.resolveDns(name, type, { signal })).length > 0) return true;
    } catch {
      if (signal.aborted) return false;
    }
  }
  return false;
}

/** Whether a permission is granted, without ever prompting. */
function granted(name: "sys" | "read" | "net", detail?: string): boolean {
  try {
    const descriptor: Deno.PermissionDescriptor = name === "sys"
      ? { name, kind: detail as Deno.SysPermissionDescriptor["kind"] }
      : name === "read"
      ? { name, path: detail }
      : { name };
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

function safe<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}
