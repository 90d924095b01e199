package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/protocol"
)

// writeSpliced puts each splice's bytes in place of its marker with the
// field's length prefix and the frame size rewritten, in old (int32) and
// flexible (uvarint) Fetch versions, for partitions listed in another
// order than the splices and with a splice whose partition is not in the
// response; over a plaintext TCP connection (the splices get the
// connection itself) and another net.Conn (they get the buffer).
func TestWriteSpliced(t *testing.T) {
	for _, version := range []int16{4, 11, 12, 16} {
		for _, tcp := range []bool{true, false} {
			resp := kmsg.NewPtrFetchResponse()
			resp.SetVersion(version)
			st := kmsg.NewFetchResponseTopic()
			st.Topic = "t"
			if version >= 13 {
				st.TopicID = [16]byte{1}
			}
			data := map[int32][]byte{}
			var splices []protocol.Splice
			var gotDst []bool
			for p := int32(0); p < 4; p++ {
				marker := bytes.Repeat([]byte{byte(0xa0 + p)}, 16)
				data[p] = bytes.Repeat([]byte{byte('a' + p)}, 1000*int(p+1))
				want := data[p]
				splices = append(splices, protocol.Splice{Marker: marker, Len: int64(len(want)), Src: writerTo(func(w io.Writer) (int64, error) {
					_, isTCP := w.(*net.TCPConn)
					gotDst = append(gotDst, isTCP)
					n, err := w.Write(want)
					return int64(n), err
				})})
				if p == 2 {
					continue // not in the response
				}
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = p
				sp.RecordBatches = marker
				st.Partitions = append([]kmsg.FetchResponseTopicPartition{sp}, st.Partitions...) // reversed
			}
			plain := kmsg.NewFetchResponseTopicPartition()
			plain.Partition = 9
			plain.RecordBatches = []byte("inline")
			st.Partitions = append(st.Partitions, plain)
			resp.Topics = append(resp.Topics, st)

			flexible := resp.IsFlexible()
			buf := binary.BigEndian.AppendUint32(nil, 0)
			buf = binary.BigEndian.AppendUint32(buf, 7) // correlation ID
			if flexible {
				buf = append(buf, 0)
			}
			buf = resp.AppendTo(buf)

			var src, dst net.Conn
			if tcp {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				acc := make(chan net.Conn, 1)
				go func() { c, _ := ln.Accept(); acc <- c }()
				if dst, err = net.Dial("tcp", ln.Addr().String()); err != nil {
					t.Fatal(err)
				}
				src = <-acc
				ln.Close()
			} else {
				src, dst = net.Pipe()
			}
			got := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(dst); got <- b }()
			w := bufio.NewWriterSize(src, 64<<10)
			err := writeSpliced(w, src, buf, splices, flexible)
			if err == nil {
				err = w.Flush()
			}
			src.Close()
			frame := <-got
			dst.Close()
			if err != nil {
				t.Fatalf("v%d tcp %v: %v", version, tcp, err)
			}
			if len(gotDst) != 3 {
				t.Fatalf("v%d: %d splices written, want 3", version, len(gotDst))
			}
			for _, isTCP := range gotDst {
				if isTCP != tcp {
					t.Fatalf("v%d tcp %v: a splice was given the connection %v", version, tcp, isTCP)
				}
			}
			if int(binary.BigEndian.Uint32(frame)) != len(frame)-4 {
				t.Fatalf("v%d tcp %v: frame size %d, %d bytes follow", version, tcp, binary.BigEndian.Uint32(frame), len(frame)-4)
			}
			body := frame[8:]
			if flexible {
				body = body[1:]
			}
			dec := kmsg.NewPtrFetchResponse()
			dec.SetVersion(version)
			if err := dec.ReadFrom(body); err != nil {
				t.Fatalf("v%d tcp %v: decoding: %v", version, tcp, err)
			}
			parts := dec.Topics[0].Partitions
			if len(parts) != 4 {
				t.Fatalf("v%d: %d partitions", version, len(parts))
			}
			for _, p := range parts {
				want := data[p.Partition]
				if p.Partition == 9 {
					want = []byte("inline")
				}
				if !bytes.Equal(p.RecordBatches, want) {
					t.Fatalf("v%d tcp %v: partition %d: %d bytes, want %d", version, tcp, p.Partition, len(p.RecordBatches), len(want))
				}
			}
		}
	}
}

// writerTo is a func as an io.WriterTo.
type writerTo func(io.Writer) (int64, error)

func (f writerTo) WriteTo(w io.Writer) (int64, error) { return f(w) }

// sliceSrc is a splice source writing fixed bytes.
type sliceSrc []byte

func (b sliceSrc) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b)
	return int64(n), err
}

// Writing a response with splices allocates its list of pieces and
// nothing per splice.
func TestWriteSplicedAllocations(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(12)
	st := kmsg.NewFetchResponseTopic()
	st.Topic = "t"
	var splices []protocol.Splice
	for p := int32(0); p < 6; p++ {
		marker := bytes.Repeat([]byte{byte(0xa0 + p)}, 16)
		splices = append(splices, protocol.Splice{Marker: marker, Len: 1000, Src: sliceSrc(bytes.Repeat([]byte{'a'}, 1000))})
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition, sp.RecordBatches = p, marker
		st.Partitions = append(st.Partitions, sp)
	}
	resp.Topics = append(resp.Topics, st)
	buf := append(binary.BigEndian.AppendUint32(nil, 0), 0, 0, 0, 7, 0) // size, correlation ID, tags
	buf = resp.AppendTo(buf)
	w := bufio.NewWriterSize(io.Discard, 64<<10)
	allocs := testing.AllocsPerRun(50, func() {
		if err := writeSpliced(w, nil, buf, splices, true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("writeSpliced allocates %.1f times for 6 splices", allocs)
	}
}
