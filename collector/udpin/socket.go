package udpin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// receiveBuffer is what the kernel granted a socket's receive buffer.
type receiveBuffer struct {
	// requested is Config.ReadBuffer; 0 left the system default.
	requested int
	// effective is SO_RCVBUF read back. The kernel doubles what it is
	// asked for (to leave room for its bookkeeping), so this is about
	// twice requested when the request was granted in full.
	effective int
	// forced says SO_RCVBUFFORCE took, so net.core.rmem_max did not apply.
	forced bool
	// forceErr is why SO_RCVBUFFORCE was refused (EPERM without
	// CAP_NET_ADMIN).
	forceErr error
}

// listenSocket opens one UDP socket on addr with SO_REUSEPORT, kernel drop
// counting and a receive buffer of readBuffer bytes.
func listenSocket(addr string, readBuffer int) (*net.UDPConn, receiveBuffer, error) {
	var granted receiveBuffer
	lc := net.ListenConfig{Control: func(_, _ string, rawConn syscall.RawConn) error {
		var optErr error
		if err := rawConn.Control(func(fd uintptr) {
			granted, optErr = setSocketOptions(int(fd), readBuffer)
		}); err != nil {
			return err
		}
		return optErr
	}}
	packetConn, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, receiveBuffer{}, err
	}
	return packetConn.(*net.UDPConn), granted, nil
}

// setSocketOptions runs before bind, which SO_REUSEPORT requires.
func setSocketOptions(fd, readBuffer int) (receiveBuffer, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return receiveBuffer{}, fmt.Errorf("set SO_REUSEPORT: %w", err)
	}
	// Without SO_RXQ_OVFL the kernel's drops would go uncounted, so a
	// kernel that refuses it is an error, not a warning.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		return receiveBuffer{}, fmt.Errorf("set SO_RXQ_OVFL (kernel drop counting): %w", err)
	}
	return setReceiveBuffer(fd, readBuffer, true)
}

// setReceiveBuffer asks for size bytes of receive buffer (0 leaves the
// default): forced past net.core.rmem_max when tryForce and the process has
// CAP_NET_ADMIN, else capped by it. It reads back what the kernel granted.
func setReceiveBuffer(fd, size int, tryForce bool) (receiveBuffer, error) {
	granted := receiveBuffer{requested: size}
	if size > 0 && tryForce {
		err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		switch {
		case err == nil:
			granted.forced = true
		case errors.Is(err, unix.EPERM):
			granted.forceErr = err
		default:
			return receiveBuffer{}, fmt.Errorf("set SO_RCVBUFFORCE %d: %w", size, err)
		}
	}
	if size > 0 && !granted.forced {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size); err != nil {
			return receiveBuffer{}, fmt.Errorf("set SO_RCVBUF %d: %w", size, err)
		}
	}
	effective, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return receiveBuffer{}, fmt.Errorf("get SO_RCVBUF: %w", err)
	}
	granted.effective = effective
	return granted, nil
}

// logListening reports the sockets once; they all get the same buffer.
func logListening(lg *zap.Logger, addr net.Addr, cfg Config, granted receiveBuffer) {
	fields := []zap.Field{
		zap.Stringer("addr", addr),
		zap.Int("sockets", cfg.Sockets),
		zap.Int("batch-size", cfg.BatchSize),
		zap.Int("receive-buffer-requested", granted.requested),
		zap.Int("receive-buffer-effective", granted.effective),
		zap.Bool("receive-buffer-forced", granted.forced),
	}
	if granted.requested > 0 && !granted.forced {
		lg.Warn("receive buffer capped by net.core.rmem_max: forcing it needs CAP_NET_ADMIN; effective is the kernel's figure, which doubles the request",
			append(fields, zap.NamedError("force-error", granted.forceErr))...)
		return
	}
	lg.Info("udp intake listening", fields...)
}

// skMeminfoVars and skMeminfoDrops are the length of the SO_MEMINFO array
// and the index of its drop counter (linux/sock_diag.h).
const (
	skMeminfoVars  = 9
	skMeminfoDrops = 8
)

// socketDrops reads the socket's cumulative drop counter, the one
// SO_RXQ_OVFL reports, with getsockopt(SO_MEMINFO).
func socketDrops(fd int) (uint32, error) {
	var info [skMeminfoVars]uint32
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("getsockopt SO_MEMINFO: %w", errno)
	}
	if size < (skMeminfoDrops+1)*4 {
		return 0, fmt.Errorf("getsockopt SO_MEMINFO: %d bytes, too short for the drop counter", size)
	}
	return info[skMeminfoDrops], nil
}
