#!/usr/bin/env python3
"""Checks a GUI screenshot is a real render: a PNG of window size with varied content (thumbnails
drawn), not a blank or tiny image. Standard library only. Usage: check_screenshot.py FILE.png"""
import struct
import sys
import zlib


def main(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    pixels = zlib.decompress(idat)
    distinct = len(set(pixels[::7]))
    print(f"{path}: {width}x{height}, {distinct} distinct byte values")
    if width < 800 or height < 500:
        sys.exit("screenshot too small: the window did not render at its size")
    if distinct < 64:
        sys.exit("screenshot looks blank: no thumbnails were drawn")


if __name__ == "__main__":
    main(sys.argv[1])
