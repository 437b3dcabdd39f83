# The entry of a network: true sandbox (run as python3 -I -S -c <this> PORT SOCKET PROGRAM ARGS...).
# Binds 127.0.0.1:PORT inside the sandbox's own network namespace, leaves a relay behind that copies every
# connection to the tool runner's egress proxy on the unix socket SOCKET, then becomes PROGRAM (execv), so the
# program keeps the sandbox's pid 2, stdin, stdout, stderr and exit status. Only low-level modules (_socket and
# posix, not socket and os: socket's enum import alone costs ~8 ms), one process, no threads: it costs the run
# one process of its limit.
import _socket
import posix
import select
import sys

BUF = 65536
IN, OUT, HUP = select.POLLIN, select.POLLOUT, select.POLLHUP | select.POLLERR | select.POLLNVAL


def relay(listener, path):
    poll = select.poll()
    lfd = listener.fileno()
    poll.register(lfd, IN)
    conns = {}  # fd -> [socket, peer fd, bytes waiting to be written to it, its reading side is done]

    def watch(fd):
        me = conns.get(fd)
        if me is None:
            return
        other = conns[me[1]]
        mask = (0 if me[3] or other[2] else IN) | (OUT if me[2] else 0)
        if mask:
            poll.register(fd, mask)
        else:  # nothing to do until the other side moves: not polled, so a hang-up cannot spin
            try:
                poll.unregister(fd)
            except KeyError:
                pass

    def drop(fd):
        for f in (fd, conns[fd][1]):
            c = conns.pop(f, None)
            if c is not None:
                try:
                    poll.unregister(f)
                except KeyError:
                    pass
                c[0].close()
        poll.register(lfd, IN)  # room again if accept had run out of descriptors

    while True:
        for fd, ev in poll.poll():
            if fd == lfd:
                try:
                    cfd, _ = listener._accept()
                except OSError:
                    poll.unregister(lfd)  # out of descriptors: wait for a connection to close
                    continue
                client = _socket.socket(fileno=cfd)
                upstream = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                try:
                    upstream.connect(path)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                client.setblocking(False)
                upstream.setblocking(False)
                a, b = client.fileno(), upstream.fileno()
                conns[a] = [client, b, b'', False]
                conns[b] = [upstream, a, b'', False]
                watch(a)
                watch(b)
                continue
            me = conns.get(fd)
            if me is None:
                continue
            other = conns[me[1]]
            could_read = not (me[3] or other[2])
            try:
                if ev & OUT and me[2]:
                    n = me[0].send(me[2])
                    me[2] = me[2][n:]
                    if not me[2] and other[3]:
                        me[0].shutdown(_socket.SHUT_WR)
                if could_read and ev & (IN | HUP):
                    data = me[0].recv(BUF)
                    if data:
                        try:
                            n = other[0].send(data)
                        except BlockingIOError:
                            n = 0
                        other[2] = data[n:]
                    else:
                        me[3] = True
                        if not other[2]:
                            other[0].shutdown(_socket.SHUT_WR)
                elif ev & HUP:  # gone both ways: nothing more can be written to it
                    drop(fd)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                drop(fd)
                continue
            if me[3] and other[3] and not me[2] and not other[2]:
                drop(fd)
                continue
            watch(fd)
            watch(me[1])


def main():
    port, path, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    pid = posix.fork()
    if pid == 0:
        # The relay is a grandchild, adopted by the sandbox's init: the program has no extra child to wait for.
        if posix.fork() == 0:
            null = posix.open("/dev/null", posix.O_RDWR)
            for fd in (0, 1, 2):
                posix.dup2(null, fd)
            try:
                relay(listener, path)
            finally:
                posix._exit(0)
        posix._exit(0)
    posix.waitpid(pid, 0)
    listener.close()
    try:
        posix.execv(argv[0], argv)
    except OSError as e:
        posix.write(2, ("sandbox: cannot run %s: %s\n" % (argv[0], e.strerror)).encode())
        posix._exit(1)


main()
