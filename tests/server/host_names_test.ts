/**
 * This machine's names for the generated certificate: host name, fully qualified name (from
 * /etc/hosts, else the resolv.conf domain when DNS resolves it), non-loopback addresses; and
 * nothing read without permission.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  fqdnsFromHosts,
  isHostName,
  machineNames,
  reachableAddresses,
  searchDomain,
} from "../../server/host_names.ts";

function nic(family: "IPv4" | "IPv6", address: string, name = "eth0"): Deno.NetworkInterfaceInfo {
  return { family, name, address, netmask: "", scopeid: null, cidr: address, mac: "" };
}

Deno.test("host names: addresses other machines can reach, without loopback or link-local", () => {
  assert.deepEqual(
    reachableAddresses([
      nic("IPv4", "127.0.0.1", "lo"),
      nic("IPv6", "::1", "lo"),
      nic("IPv6", "fd00::2"),
      nic("IPv4", "192.0.2.2"),
      nic("IPv6", "fe80::fc:ff:fe00:1%eth0"),
      nic("IPv4", "169.254.3.4"),
      nic("IPv4", "198.51.100.1", "veth0"),
      nic("IPv4", "192.0.2.2", "eth0:1"),
      nic("IPv6", "2001:DB8::5"),
    ]),
    ["192.0.2.2", "198.51.100.1", "fd00::2", "2001:db8::5"],
  );
});

Deno.test("host names: the FQDN from /etc/hosts, the domain from resolv.conf", () => {
  const hosts = [
    "127.0.0.1 localhost",
    "# 10.0.0.1 box.commented.example box",
    "127.0.1.1 box.example.org box # the usual Debian line",
    "10.0.0.9 other.example.org other",
    "10.0.0.10 box.second.example box",
  ].join("\n");
  assert.deepEqual(fqdnsFromHosts("box", hosts), ["box.example.org", "box.second.example"]);
  assert.deepEqual(fqdnsFromHosts("vm", "127.0.0.1 vm\n"), []);
  assert.deepEqual(fqdnsFromHosts("other", hosts), ["other.example.org"]);
  assert.equal(searchDomain("nameserver 10.0.0.1\nsearch a.example b.example\n"), "a.example");
  assert.equal(searchDomain("search a.example\ndomain corp.example.\n"), "corp.example");
  assert.equal(searchDomain("nameserver 10.255.255.53\n"), undefined);
  assert.equal(searchDomain("search .\n"), undefined);
  assert.ok(isHostName("box.example.org") && isHostName("ip-10-0-0-1") && isHostName("a_b"));
  assert.ok(!isHostName("") && !isHostName("a..b") && !isHostName("-a") && !isHostName("a b"));
});

Deno.test("host names: machineNames puts the FQDN first and asks DNS only for the resolv.conf guess", async () => {
  const asked: string[] = [];
  const files: Record<string, string> = {
    "/etc/hosts": "127.0.1.1 box.example.org box\n",
    "/etc/resolv.conf": "search lan.example\n",
  };
  const sources = {
    hostname: () => "BOX",
    interfaces: () => [nic("IPv4", "127.0.0.1", "lo"), nic("IPv4", "192.0.2.8")],
    readText: (path: string) => Promise.resolve(files[path] ?? null),
    resolves: (name: string) => {
      asked.push(name);
      return Promise.resolve(name === "box.lan.example");
    },
  };
  assert.deepEqual(await machineNames(sources), {
    hostNames: ["box.example.org", "box"],
    addresses: ["192.0.2.8"],
    unreadable: [],
  });
  assert.deepEqual(asked, [], "/etc/hosts had it: no DNS question");

  files["/etc/hosts"] = "127.0.0.1 localhost\n";
  assert.deepEqual((await machineNames(sources)).hostNames, ["box.lan.example", "box"]);
  assert.deepEqual(asked, ["box.lan.example"]);

  files["/etc/resolv.conf"] = "search other.example\n";
  assert.deepEqual((await machineNames(sources)).hostNames, ["box"], "not resolvable: left out");

  const dotted = await machineNames({ ...sources, hostname: () => "files.example.org" });
  assert.deepEqual(dotted.hostNames, ["files.example.org"]);
  const invalid = await machineNames({ ...sources, hostname: () => "bad name" });
  assert.deepEqual(invalid.hostNames, []);
});

Deno.test("host names: the real machine, read only with permission and never by a prompt", async () => {
  const names = await machineNames();
  const hostGranted = Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state ===
    "granted";
  const nicsGranted =
    Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state === "granted";
  if (hostGranted) {
    const host = Deno.hostname().toLowerCase();
    if (isHostName(host)) assert.ok(names.hostNames.includes(host), JSON.stringify(names));
  } else {
    assert.deepEqual(names.hostNames, []);
  }
  assert.equal(names.unreadable.includes("hostname"), !hostGranted);
  assert.equal(names.unreadable.includes("networkInterfaces"), !nicsGranted);
  if (nicsGranted) {
    assert.deepEqual(names.addresses, reachableAddresses(Deno.networkInterfaces()));
  } else {
    assert.deepEqual(names.addresses, []);
  }
  for (const a of names.addresses) assert.ok(!/^127\.|^::1$|^fe80:/i.test(a), a);
});
