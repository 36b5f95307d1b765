"""The constant Windows collection script (PowerShell) and the decoder of what it prints.

One script per host (issue 6): `Get-NetFirewallRule -PolicyStore ActiveStore -TracePolicyStore`,
each filter class loaded ONCE with `-All` and joined on InstanceID (never a per-rule filter call:
those cost ~1 s per rule), `Get-NetFirewallProfile -PolicyStore ActiveStore`, and
`Get-NetConnectionProfile` for the active network categories, and the listening sockets
(`Get-NetTCPConnection -State Listen`, `Get-NetUDPEndpoint`, with the owning process's path and
a service it hosts) for the exposure results. Enums are cast to strings with
"$(...)" (Windows PowerShell 5.1's ConvertTo-Json has no -EnumsAsStrings). The document is
schemas/windows-collect.schema.json.

Output, on stdout (ASCII only, so the shell's code page does not matter):
    @@fwcheck-windows 1 <json byte length> <base64 length>
    <base64 of the gzip of the UTF-8 JSON>
    @@fwcheck-end
Both lengths are checked, so a truncated or garbled transfer is detected. On failure the script
writes one line to stderr and exits 3.

Launch: `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand B`
where B is a ~200-character bootstrap that inflates the raw-deflated script and runs it.
cmd.exe limits a command line to 8,191 characters ("Command prompt (Cmd.exe) command-line string
limitation", Microsoft Learn) and -EncodedCommand takes base64 of UTF-16LE, so the script itself
could not pass; the compressed bootstrap does, with room to spare (a test checks the length).
The command line is constant: no inventory value is ever put into it.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib

from checker import __version__

FORMAT_VERSION = "1"
CMD_LINE_LIMIT = 8191

# Readable source; comment lines and indentation are stripped before it is compressed.
_SOURCE = r"""
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
  $S = @{ PolicyStore = 'ActiveStore' }
  function Ix($c) { $h = @{}; foreach ($f in (& $c -All @S)) { $h[[string]$f.InstanceID] = $f }; $h }
  function L($v) { if ($null -eq $v) { $null } else { , @($v | ForEach-Object { "$_" }) } }
  $pf = Ix Get-NetFirewallPortFilter
  $af = Ix Get-NetFirewallAddressFilter
  $ap = Ix Get-NetFirewallApplicationFilter
  $sv = Ix Get-NetFirewallServiceFilter
  $it = Ix Get-NetFirewallInterfaceTypeFilter
  $nf = Ix Get-NetFirewallInterfaceFilter
  $se = Ix Get-NetFirewallSecurityFilter
  $rules = @(foreach ($r in (Get-NetFirewallRule @S -TracePolicyStore)) {
    $i = [string]$r.InstanceID
    $p = $pf[$i]; $a = $af[$i]; $g = $ap[$i]; $v = $sv[$i]; $t = $it[$i]; $n = $nf[$i]; $e = $se[$i]
    [ordered]@{
      Name = "$($r.Name)"; ID = "$($r.ID)"; DisplayName = "$($r.DisplayName)"
      Description = $r.Description; DisplayGroup = $r.DisplayGroup
      Enabled = "$($r.Enabled)"; Direction = "$($r.Direction)"; Action = "$($r.Action)"
      Profile = "$($r.Profile)"; PolicyStoreSource = $r.PolicyStoreSource
      PolicyStoreSourceType = "$($r.PolicyStoreSourceType)"
      EdgeTraversalPolicy = "$($r.EdgeTraversalPolicy)"
      LooseSourceMapping = [bool]$r.LooseSourceMapping; LocalOnlyMapping = [bool]$r.LocalOnlyMapping
      Owner = $r.Owner; Platform = L $r.Platform
      Protocol = "$($p.Protocol)"; LocalPort = L $p.LocalPort; RemotePort = L $p.RemotePort
      IcmpType = L $p.IcmpType; LocalAddress = L $a.LocalAddress; RemoteAddress = L $a.RemoteAddress
      Program = "$($g.Program)"; Package = $g.Package; Service = "$($v.Service)"
      InterfaceType = "$($t.InterfaceType)"; InterfaceAlias = L $n.InterfaceAlias
      Authentication = "$($e.Authentication)"; Encryption = "$($e.Encryption)"
      OverrideBlockRules = [bool]$e.OverrideBlockRules; RemoteMachine = $e.RemoteMachine
      RemoteUser = $e.RemoteUser; LocalUser = $e.LocalUser
    }
  })
  $prof = @(foreach ($f in (Get-NetFirewallProfile @S)) {
    [ordered]@{
      Name = "$($f.Name)"; Enabled = "$($f.Enabled)"
      DefaultInboundAction = "$($f.DefaultInboundAction)"; DefaultOutboundAction = "$($f.DefaultOutboundAction)"
      AllowInboundRules = "$($f.AllowInboundRules)"; AllowLocalFirewallRules = "$($f.AllowLocalFirewallRules)"
      NotifyOnListen = "$($f.NotifyOnListen)"
    }
  })
  $cp = @(Get-NetConnectionProfile -ErrorAction SilentlyContinue | ForEach-Object {
    [ordered]@{ Name = "$($_.Name)"; InterfaceAlias = "$($_.InterfaceAlias)"; InterfaceIndex = [int]$_.InterfaceIndex; NetworkCategory = "$($_.NetworkCategory)" }
  })
  $m = @{ DomainAuthenticated = 'Domain'; Private = 'Private'; Public = 'Public' }
  $act = @($cp | ForEach-Object { $m[$_.NetworkCategory] } | Sort-Object -Unique)
  # Listening sockets (exposure): owning process path (Get-Process; PID 4 is the System
  # process) and one service it hosts (Win32_Service ProcessId), when Windows tells them.
  $svc = @{}; Get-CimInstance Win32_Service -ErrorAction SilentlyContinue | Where-Object { $_.ProcessId } | ForEach-Object { $svc[[int]$_.ProcessId] = "$($_.Name)" }
  $pp = @{}; Get-Process -ErrorAction SilentlyContinue | ForEach-Object { $pp[[int]$_.Id] = $_.Path }
  function Sk($q, $s) { $i = [int]$s.OwningProcess; [ordered]@{ Protocol = $q; LocalAddress = "$($s.LocalAddress)"; LocalPort = [int]$s.LocalPort; OwningProcess = $i; ProcessPath = $(if ($i -eq 4) { 'System' } else { $pp[$i] }); Service = $svc[$i] } }
  $ls = @(@(Get-NetTCPConnection -State Listen -ErrorAction SilentlyContinue | ForEach-Object { Sk 'TCP' $_ }) + @(Get-NetUDPEndpoint -ErrorAction SilentlyContinue | ForEach-Object { Sk 'UDP' $_ }))
  $o = Get-CimInstance Win32_OperatingSystem
  $d = [ordered]@{
    format = 'fwcheck-windows-collect'; format_version = 1
    collector = [ordered]@{ name = 'fwcheck-winrm'; version = '__VERSION__'; powershell_version = "$($PSVersionTable.PSVersion)" }
    host = "$env:COMPUTERNAME"; collected_at = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
    os = [ordered]@{ caption = "$($o.Caption)"; version = "$($o.Version)" }
    active_profiles = $act; connection_profiles = $cp; profiles = $prof; rules = $rules; listening = $ls
  }
  $b = [Text.Encoding]::UTF8.GetBytes((ConvertTo-Json $d -Depth 6 -Compress))
  $ms = New-Object IO.MemoryStream
  $z = New-Object IO.Compression.GZipStream($ms, [IO.Compression.CompressionMode]::Compress)
  $z.Write($b, 0, $b.Length); $z.Close()
  $c = [Convert]::ToBase64String($ms.ToArray())
  [Console]::Out.Write("@@fwcheck-windows __FORMAT__ $($b.Length) $($c.Length)`n$c`n@@fwcheck-end`n")
} catch {
  [Console]::Error.WriteLine('fwcheck: ' + ($_.Exception.Message -replace '\s+', ' '))
  exit 3
}
"""


def _minify(source: str) -> str:
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#")) + "\n"


SCRIPT = _minify(_SOURCE.replace("__VERSION__", __version__).replace("__FORMAT__", FORMAT_VERSION))


def _deflate(data: bytes) -> bytes:
    # Raw deflate (wbits -15) is what .NET's DeflateStream reads (RFC 1951, no zlib header).
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


BOOTSTRAP = (
    "$s=New-Object IO.Compression.DeflateStream([IO.MemoryStream][Convert]::FromBase64String('"
    + base64.b64encode(_deflate(SCRIPT.encode("utf-8"))).decode()
    + "'),[IO.Compression.CompressionMode]::Decompress);"
    "iex (New-Object IO.StreamReader($s,[Text.Encoding]::UTF8)).ReadToEnd()"
)
ENCODED_COMMAND = base64.b64encode(BOOTSTRAP.encode("utf-16-le")).decode()
EXECUTABLE = "powershell.exe"
ARGUMENTS: tuple[str, ...] = (
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-EncodedCommand",
    ENCODED_COMMAND,
)
COMMAND_LINE = " ".join((EXECUTABLE, *ARGUMENTS))
# What evidence manifests show as the command (the full line is 5,000+ characters of base64).
COMMAND_LABEL = f"{EXECUTABLE} -NoProfile -NonInteractive -EncodedCommand <fwcheck {__version__} collection script>"


class DecodeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_HEADER = re.compile(rb"@@fwcheck-windows (\d+) (\d{1,12}) (\d{1,12})\r?\n")
_END = b"@@fwcheck-end"


def encode_output(document: bytes) -> bytes:
    """What the script prints for a JSON document (used to replay recorded documents in tests)."""
    packed = base64.b64encode(gzip.compress(document)).decode()
    return f"@@fwcheck-windows {FORMAT_VERSION} {len(document)} {len(packed)}\n{packed}\n@@fwcheck-end\n".encode()


def decode_output(stdout: bytes, max_bytes: int = 256 * 1024 * 1024) -> bytes:
    """The JSON document from the script's stdout; DecodeError if truncated or garbled."""
    match = _HEADER.search(stdout)
    if match is None:
        if not stdout.strip():
            raise DecodeError("no-output", "the collection script printed nothing")
        raise DecodeError("garbled", "the collection script's start marker is missing")
    if match.group(1).decode() != FORMAT_VERSION:
        raise DecodeError("garbled", f"unexpected output format version {match.group(1).decode()}")
    json_len, b64_len = int(match.group(2)), int(match.group(3))
    if json_len > max_bytes:
        raise DecodeError("output-too-large", f"output exceeds {max_bytes // 2**20} MiB")
    end = stdout.find(_END, match.end())
    if end < 0:
        raise DecodeError("truncated", "output ends before the end marker")
    if stdout[end + len(_END) :].strip():
        raise DecodeError("garbled", "unexpected bytes after the end marker")
    # Hosts may wrap long lines; base64 ignores none of its own characters, so drop whitespace.
    body = re.sub(rb"\s+", b"", stdout[match.end() : end])
    if len(body) != b64_len:
        raise DecodeError("truncated", f"expected {b64_len} base64 characters, got {len(body)}")
    try:
        document = gzip.decompress(base64.b64decode(body, validate=True))
    except (ValueError, OSError, EOFError, zlib.error):
        raise DecodeError("garbled", "the compressed output does not decode") from None
    if len(document) != json_len:
        raise DecodeError("garbled", f"expected {json_len} JSON bytes, got {len(document)}")
    try:
        json.loads(document)
    except ValueError:
        raise DecodeError("garbled", "the collected document is not JSON") from None
    return document


def error_line(stderr: bytes) -> str:
    """One printable line from PowerShell's stderr (which may be CLIXML when -EncodedCommand
    is used: "#< CLIXML" then <S S="Error">text_x000D__x000A_</S> elements)."""
    text = stderr.decode("utf-8", "replace")
    if "CLIXML" in text:
        parts = re.findall(r'<S S="Error">(.*?)</S>', text, re.S)
        text = "".join(parts).replace("_x000D_", "").replace("_x000A_", " ")
    for line in text.splitlines():
        line = "".join(ch if ch.isprintable() else "?" for ch in line.strip())
        if line:
            return line[:200]
    return ""
