#!/usr/bin/env python3
"""Writes the seed corpus of the memeater-control fuzzer: one file per seed, each the byte
stream of one control connection (request lines). Every command valid, then at and just past
the bounds of its fields for the harness's 1 MiB region (256 pages of 4 KiB, 64 bytes of each
written: mibPerSecond 0-1, pagesPerSecond 0-256, page 0-255, byteOffset 0-63), and the
borderline forms the decoder must refuse (wrong types, NaN and infinities, duplicated and
unknown fields, nesting, escapes and surrogates, control characters, CRLF and blank lines,
a line without its newline, a line over 64 KiB). Each stream opens with the token the
harness's token server requires, so both of its servers get past authentication.
Usage: make-seeds.py DIRECTORY"""
import os
import sys

TOKEN = "fuzz-token-0123456789abcdef"
AUTH = '{"command":"auth","token":"%s"}' % TOKEN

VALID = [
    '{"command":"info"}',
    '{"command":"stats"}',
    '{"command":"set-rate","mibPerSecond":0.5}',
    '{"command":"set-rate","pagesPerSecond":100}',
    '{"command":"pause"}',
    '{"command":"resume"}',
    '{"command":"verify-all"}',
    '{"command":"reset-stall"}',
    '{"command":"history"}',
    '{"command":"corrupt-page","page":77,"byteOffset":40}',
    '{"command":"corrupt-page","page":3}',
    '{"command":"stop"}',
]

BORDERLINE = [
    # set-rate at and past its bounds
    '{"command":"set-rate","mibPerSecond":1}',
    '{"command":"set-rate","mibPerSecond":1.0000001}',
    '{"command":"set-rate","mibPerSecond":-0}',
    '{"command":"set-rate","mibPerSecond":-0.0}',
    '{"command":"set-rate","mibPerSecond":-1}',
    '{"command":"set-rate","mibPerSecond":1e-400}',
    '{"command":"set-rate","mibPerSecond":4e16}',
    '{"command":"set-rate","pagesPerSecond":256}',
    '{"command":"set-rate","pagesPerSecond":257}',
    '{"command":"set-rate","pagesPerSecond":1e19}',
    '{"command":"set-rate","pagesPerSecond":1.7976931348623157e308}',
    '{"command":"set-rate","pagesPerSecond":1e999}',
    '{"command":"set-rate","pagesPerSecond":NaN}',
    '{"command":"set-rate","pagesPerSecond":-Infinity}',
    '{"command":"set-rate","pagesPerSecond":"100"}',
    '{"command":"set-rate","pagesPerSecond":null}',
    '{"command":"set-rate","pagesPerSecond":[1]}',
    '{"command":"set-rate"}',
    '{"command":"set-rate","mibPerSecond":1,"pagesPerSecond":1}',
    # corrupt-page at and past its bounds
    '{"command":"corrupt-page","page":255,"byteOffset":63}',
    '{"command":"corrupt-page","page":256}',
    '{"command":"corrupt-page","page":-1}',
    '{"command":"corrupt-page","page":-0}',
    '{"command":"corrupt-page","page":1.5}',
    '{"command":"corrupt-page","page":1.0}',
    '{"command":"corrupt-page","page":7.7e1}',
    '{"command":"corrupt-page","page":9223372036854775807}',
    '{"command":"corrupt-page","page":99999999999999999999}',
    '{"command":"corrupt-page","page":3,"byteOffset":64}',
    '{"command":"corrupt-page","page":3,"byteOffset":-1}',
    '{"command":"corrupt-page"}',
    # fields the command does not take, unknown, duplicated, nested
    '{"command":"stop","page":1}',
    '{"command":"info","token":"%s"}' % TOKEN,
    '{"command":"info","extra":{"a":[1,2,{"b":null}]}}',
    '{"command":"stop","command":"info"}',
    '{"command":"corrupt-page","page":1,"page":2}',
    '{"command":"info","page":' + "[" * 200,
    "[" * 200,
    '["command","stop"]',
    '{"command":"stop"} {"command":"stop"}',
    '{"command":"stop",}',
    '{}',
    # the command and token strings
    '{"command":7}',
    '{"command":""}',
    '{"command":"st\\u006fp"}',
    '{"command":"\\ud83d\\ude00\\/\\"\\\\\\b\\f\\n\\r\\t"}',
    '{"command":"\\ud800stop"}',
    '{"command":"\\udc00"}',
    '{"command":"\\x"}',
    '{"command":"sto\\u0000p\\u001b[2J"}',
    '{"command":"auth"}',
    '{"command":"auth","token":""}',
    '{"command":"auth","token":"0123456789abcde"}',
    '{"command":"auth","token":"%s"}' % ("a" * 1025),
    '{"command":"auth","token":"fuzz-token 0123456789"}',
    '{"command":"auth","token":12345678901234567890}',
    '{"command":"auth","token":"%s","page":1}' % TOKEN,
]


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    lines = lambda items: ("\n".join([AUTH] + items) + "\n").encode()
    write(directory, "every-command", lines(VALID))
    for number, line in enumerate(VALID):
        write(directory, "valid-%02d" % number, lines([line]))
    for number, line in enumerate(BORDERLINE):
        write(directory, "borderline-%02d" % number, lines([line, '{"command":"info"}']))
    # The raw bytes JSON forbids or the framer must handle.
    write(directory, "raw-control-character", (AUTH + '\n{"command":"st\x01op"}\n').encode())
    write(directory, "invalid-utf8", AUTH.encode() + b'\n{"command":"\xff\xfe"}\n')
    write(directory, "crlf-and-blank-lines", (AUTH + '\r\n\r\n   \n{"command":"info"}\r\n\t\n').encode())
    write(directory, "no-final-newline", (AUTH + '\n{"command":"stop"}').encode())
    write(directory, "before-auth", b'{"command":"stop"}\n' + lines(VALID))
    write(directory, "wrong-token", ('{"command":"auth","token":"wrong-token-0123456789"}\n{"command":"info"}\n').encode())
    write(directory, "over-64-kib", (AUTH + '\n{"command":"info","x":"' + "a" * 66_000 + '"}\n').encode())
    write(directory, "just-under-64-kib", (AUTH + '\n{"command":"' + "a" * 65_000 + '"}\n{"command":"info"}\n').encode())


if __name__ == "__main__":
    main()
