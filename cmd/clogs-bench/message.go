package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// A bench message is MSG_LEN bytes:
//
//	cb:RRRRRRRR:SSSSSSSSSS[ card=4111111111111111] abcdefghij…
//
// "cb:" marks it, R is the run's ID (8 hex digits), so that verify
// ignores lines of earlier runs in the same streams, and S the line's
// sequence number within its file, 1, 2, 3, … in decimal, 10 digits. A
// file's sequence numbers have no gaps: a line whose send failed is sent
// again with the same number, so the lines of a file that were sent are
// exactly 1 … its count. With --cards a test card number follows, which
// the collector masks to 411111******1111. Letters pad the message to its
// length; the message holds no other digit runs, so masking touches
// nothing else.
const (
	messageMark = "cb:"
	runIDLen    = 8
	seqDigits   = 10
	seqOffset   = len(messageMark) + runIDLen + 1
	headerLen   = seqOffset + seqDigits
	testCard    = "4111111111111111"
	cardField   = " card=" + testCard
	maskedCard  = "411111******1111"
	padding     = " abcdefghijklmnopqrstuvwxyz"
)

// maxSeq is the largest sequence number that fits its digits.
const maxSeq = 9_999_999_999

// newRunID returns a random run ID of runIDLen hex digits.
func newRunID() string {
	var b [runIDLen / 2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// minMessageLen is the shortest message that carries the header (and the
// card, with cards).
func minMessageLen(cards bool) int {
	if cards {
		return headerLen + len(cardField)
	}
	return headerLen
}

// newMessage returns a message of length n for run, with sequence number
// 0; setSeq writes the number in place.
func newMessage(run string, n int, cards bool) ([]byte, error) {
	if n < minMessageLen(cards) {
		return nil, fmt.Errorf("-d %d: a message needs at least %d bytes for its run ID and sequence number%s",
			n, minMessageLen(cards), map[bool]string{true: " and card", false: ""}[cards])
	}
	msg := make([]byte, 0, n)
	msg = append(msg, messageMark...)
	msg = append(msg, run...)
	msg = append(msg, ':')
	msg = append(msg, bytes.Repeat([]byte{'0'}, seqDigits)...)
	if cards {
		msg = append(msg, cardField...)
	}
	for len(msg) < n {
		msg = append(msg, padding[:min(len(padding), n-len(msg))]...)
	}
	return msg, nil
}

// setSeq writes seq into msg's sequence digits.
func setSeq(msg []byte, seq uint64) {
	digits := msg[seqOffset : seqOffset+seqDigits]
	for i := seqDigits - 1; i >= 0; i-- {
		digits[i] = byte('0' + seq%10)
		seq /= 10
	}
}

// parseMessage returns the run ID and sequence number of a bench message,
// and false if msg is not one.
func parseMessage(msg []byte) (run []byte, seq uint64, ok bool) {
	if len(msg) < headerLen || !bytes.HasPrefix(msg, []byte(messageMark)) || msg[seqOffset-1] != ':' {
		return nil, 0, false
	}
	for _, c := range msg[seqOffset:headerLen] {
		if c < '0' || c > '9' {
			return nil, 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	return msg[len(messageMark) : seqOffset-1], seq, true
}
