#!/usr/bin/python3
"""hostile_peer.py ENDPOINT SECONDS - a hostile peer on paramd's worker port for SECONDS:
random bytes as one to four frames, from many routing ids, as fast as the socket takes them,
half of them starting like a paramd header (a protobuf field 1 = 1, field 2 = a random
message type) so that the decoder gets past its first byte. Says "flooding" on stderr once
the first message is out, and prints how many it sent."""
import os
import random
import sys
import time

import zmq


def main():
    endpoint, seconds = sys.argv[1], float(sys.argv[2])
    rnd = random.Random(int.from_bytes(os.urandom(8), "little"))
    ctx = zmq.Context()
    socks = []
    for _ in range(8):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDHWM, 1000)
        s.connect(endpoint)
        socks.append(s)
    sent = 0
    end = time.time() + seconds
    while time.time() < end:
        s = rnd.choice(socks)
        frames = []
        for i in range(rnd.randint(1, 4)):
            body = os.urandom(rnd.randint(0, 64))
            if i == 0 and rnd.random() < 0.5:
                body = bytes([0x08, 0x01, 0x10, rnd.randint(0, 20)]) + body
            frames.append(body)
        try:
            s.send_multipart(frames, zmq.NOBLOCK)
            sent += 1
            if sent == 1:
                print("flooding", file=sys.stderr, flush=True)  # the test waits for this
        except zmq.Again:
            time.sleep(0.001)
        # drain whatever the server answered
        for t in socks:
            try:
                while True:
                    t.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                pass
    for s in socks:
        s.close()
    ctx.term()
    print(sent)


if __name__ == "__main__":
    main()
