#!/usr/bin/env python3
"""Where is a hung guest?  Asks QEMU's monitor for every vCPU's registers
and the top of its stack, and names the kernel text addresses found there
with System.map.

usage: vm/hung-cpus.py MONITOR_SOCKET SYSTEM_MAP [STACK_WORDS]

vm/run.sh runs it when a guest times out.  A stack scan is not an unwinder:
it lists every word on the stack that points into kernel text, so stale
return addresses show up beside the live ones; read it from the top.
"""

import bisect
import re
import socket
import sys
import time


def monitor(path, commands):
    """Runs monitor commands; returns their output, one string each."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)

    def read_until_prompt():
        data = b""
        deadline = time.monotonic() + 10
        while not data.endswith(b"(qemu) ") and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")

    read_until_prompt()  # banner
    outputs = []
    for command in commands:
        sock.sendall(command.encode() + b"\n")
        out = read_until_prompt()
        # The monitor echoes the command line with terminal escapes.
        out = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out)
        lines = out.splitlines()[1:]
        outputs.append("\n".join(line for line in lines if line != "(qemu) "))
    sock.close()
    return outputs


def load_symbols(path):
    addresses, names = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in "tTwW":
                addresses.append(int(parts[0], 16))
                names.append(parts[2])
    order = sorted(range(len(addresses)), key=addresses.__getitem__)
    return [addresses[i] for i in order], [names[i] for i in order]


def symbolize(symbols, address):
    addresses, names = symbols
    i = bisect.bisect_right(addresses, address) - 1
    if i < 0 or address - addresses[i] > 0x10000:
        return None
    return f"{names[i]}+{address - addresses[i]:#x}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sock_path, system_map = sys.argv[1], sys.argv[2]
    words = int(sys.argv[3]) if len(sys.argv) > 3 else 96
    symbols = load_symbols(system_map)
    text_start, text_end = symbols[0][0], symbols[0][-1] + 0x10000

    (registers,) = monitor(sock_path, ["info registers -a"])
    cpus = re.split(r"\n(?=CPU#\d+)", "\n" + registers)
    for block in cpus:
        header = re.match(r"\s*CPU#(\d+)", block)
        rip = re.search(r"RIP=([0-9a-f]+)", block)
        rsp = re.search(r"RSP=([0-9a-f]+)", block)
        if not (header and rip and rsp):
            continue
        cpu = int(header.group(1))
        pc = int(rip.group(1), 16)
        print(f"CPU#{cpu} RIP {pc:x} {symbolize(symbols, pc) or '?'}")
        # "cpu N" selects the vCPU whose memory view "x" uses.
        _, stack = monitor(sock_path, [f"cpu {cpu}", f"x/{words}gx 0x{rsp.group(1)}"])
        for value in re.findall(r"0x([0-9a-f]{16})", stack):
            address = int(value, 16)
            if text_start <= address < text_end:
                name = symbolize(symbols, address)
                if name:
                    print(f"    {address:x} {name}")


if __name__ == "__main__":
    main()
