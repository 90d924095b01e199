package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/tributary/tributary/internal/record"
)

// segment is one .log file with its .index and .timeindex, and its
// .txnindex when it holds ABORT markers (txnindex.go).
//
// Concurrency: the fields below the files are guarded by the owning Log's
// mu. Bytes of .log below a published size never change while the segment
// is live (the cleaner replaces whole segments), so readers snapshot size
// under the lock and read the file without it.
type segment struct {
	base int64
	f    *segFile
	path string // .log path
	// kpath is the key file (crypt.go) if the segment is encrypted.
	kpath string
	idx   *index
	tidx  *index
	// txnPath is the .txnindex path (the file exists only while txn has
	// entries; not encrypted, it holds offsets only); txn its entries,
	// in marker order.
	txnPath string
	txn     []TxnIndexEntry

	size        int64 // bytes of whole batches
	next        int64 // offset after the last batch; base if empty
	maxTs       int64 // largest batch max timestamp; -1 if none
	maxTsOff    int64 // last offset of the batch carrying maxTs
	firstTs     int64 // max timestamp of the first batch (segment.ms); -1
	sinceIndex  int64 // bytes appended since the last index entry
	lastTimeIdx int64 // last timestamp in .timeindex; -1
	// hinted: bytes below were handed to startWriteback; -1 until the
	// first append to this open segment (what was there before is
	// older than this process's writes).
	hinted int64
	// rewrapped: opening re-wrapped the key file with the current KEK.
	rewrapped bool
	// cut: bytes at the tail were cut off (truncation, recovery). An
	// encrypted segment then takes no more appends (Log.rekeyActive):
	// new bytes at those positions would reuse their CTR keystream.
	cut bool

	// checkedFrom: the active segment's batches at or after it were
	// appended by this process, which checked their CRCs then: its size
	// when the log was opened, 0 for a new segment, MaxInt64 once sealed
	// or for a segment loaded sealed. Reads there may skip the check
	// (ReadZeroCopy sends them with sendfile); every other read checks
	// each batch (ReadZeroCopy's long ones through a mapping of the file,
	// Log.sliceFrom), so damage at rest in a sealed segment is never
	// served.
	checkedFrom atomic.Int64

	// hintMu guards the read hint: where the last read of this segment
	// ended (offset hintNext at byte hintPos). A consumer reading in
	// order asks for that offset next, and find starts there instead of
	// reading the index. Taken without Log.mu (reads run outside it).
	hintMu            sync.Mutex
	hintNext, hintPos int64
}

// SegmentName is the file name of a segment with the given base offset.
func SegmentName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

// openSegment opens (creating if needed) the segment files for base in dir.
// truncate empties existing files (a fresh segment). c holds the
// descriptors (files.go). kr is the keyring
// when encryption at rest is on (nil: off): a fresh segment then gets a
// new data key (its <base>.key written and fsynced first); an existing
// one is opened with the key in its key file, or as plaintext if it has
// none and holds plaintext batches (written before encryption was turned
// on). An encrypted segment without kr, a key file no configured KEK
// unwraps, or a key file missing beside ciphertext is an error naming
// the file: the segment is never read as garbage nor "recovered".
func openSegment(c *fileCache, dir string, base int64, truncate bool, kr *Keyring) (*segment, error) {
	flags := os.O_RDWR | os.O_CREATE
	if truncate {
		flags |= os.O_TRUNC
	}
	path := filepath.Join(dir, SegmentName(base, ".log"))
	dk, rewrapped, err := segmentKey(dir, base, truncate, kr)
	if err != nil {
		return nil, err
	}
	f, err := openCachedSegFile(c, path, flags, dk, kindLog)
	if err != nil {
		return nil, err
	}
	s := &segment{base: base, f: f, path: path, next: base, maxTs: -1, maxTsOff: -1, firstTs: -1, lastTimeIdx: -1, hinted: -1, rewrapped: rewrapped}
	if !truncate {
		s.checkedFrom.Store(math.MaxInt64) // Log.load sets the active one's
	}
	if dk != nil {
		s.kpath = keyPath(dir, base)
	}
	if s.idx, err = openIndex(c, filepath.Join(dir, SegmentName(base, ".index")), offsetEntrySize, flags, dk, kindIndex); err != nil {
		f.Close()
		return nil, err
	}
	if s.tidx, err = openIndex(c, filepath.Join(dir, SegmentName(base, ".timeindex")), timeEntrySize, flags, dk, kindTimeIndex); err != nil {
		f.Close()
		s.idx.close()
		return nil, err
	}
	s.txnPath = filepath.Join(dir, SegmentName(base, ".txnindex"))
	if truncate {
		// The index files were opened with O_TRUNC.
		if err := os.Remove(s.txnPath); err != nil && !os.IsNotExist(err) {
			s.close()
			return nil, err
		}
	} else {
		s.loadTxnIndex()
	}
	return s, nil
}

// segmentKey returns the data key of segment base in dir (nil:
// plaintext), creating one for a fresh segment when kr is set; see
// openSegment.
func segmentKey(dir string, base int64, fresh bool, kr *Keyring) (dk *dataKey, rewrapped bool, err error) {
	kp := keyPath(dir, base)
	if fresh {
		if kr == nil {
			if err := os.Remove(kp); err != nil && !os.IsNotExist(err) {
				return nil, false, err
			}
			return nil, false, nil
		}
		dk, err := kr.createSegmentKey(kp)
		return dk, false, err
	}
	if _, err := os.Stat(kp); err == nil {
		if kr == nil {
			return nil, false, fmt.Errorf("%s: %w (set log.encryption.enable and its key)", filepath.Join(dir, SegmentName(base, ".log")), ErrNoKEK)
		}
		dk, rewrapped, err := kr.openSegmentKey(kp)
		if errors.Is(err, errRewrap) {
			err = nil // readable with the previous KEK; start-up logged it
		}
		return dk, rewrapped, err
	} else if !os.IsNotExist(err) {
		return nil, false, err
	}
	if kr == nil {
		return nil, false, nil
	}
	// No key file with encryption on: plaintext from before encryption
	// was turned on, or a lost key file.
	plain, empty, err := plaintextSegment(dir, base)
	switch {
	case err != nil:
		return nil, false, err
	case empty:
		// Nothing written yet: encrypt from here on.
		dk, err := kr.createSegmentKey(kp)
		return dk, false, err
	case !plain:
		return nil, false, fmt.Errorf("%s: %w (expected %s)", filepath.Join(dir, SegmentName(base, ".log")), ErrMissingKeyFile, kp)
	}
	return nil, false, nil
}

// maxPlaintextProbe bounds the first batch plaintextSegment reads (a
// header decrypted as garbage may claim up to 2 GiB).
const maxPlaintextProbe = 128 << 20

// plaintextSegment reports whether segment base in dir is empty (no
// bytes in any of its files) or starts with a whole plaintext batch that
// passes its CRC (ciphertext does not, but by chance once in 2^32).
func plaintextSegment(dir string, base int64) (plain, empty bool, err error) {
	var total int64
	for _, ext := range []string{".log", ".index", ".timeindex"} {
		st, err := os.Stat(filepath.Join(dir, SegmentName(base, ext)))
		if err == nil {
			total += st.Size()
		} else if !os.IsNotExist(err) {
			return false, false, err
		}
	}
	if total == 0 {
		return false, true, nil
	}
	f, err := os.Open(filepath.Join(dir, SegmentName(base, ".log")))
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, false, err
	}
	if st.Size() < record.HeaderSize {
		return st.Size() == 0, false, nil
	}
	hdr := make([]byte, record.HeaderSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return false, false, err
	}
	n, err := batchSize(hdr)
	if err != nil || int64(n) > st.Size() || n > maxPlaintextProbe {
		return false, false, nil
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		return false, false, err
	}
	return record.Batch(b).CheckCRC(), false, nil
}

func (s *segment) close() error {
	return errors.Join(s.f.Close(), s.idx.close(), s.tidx.close())
}

// retire keeps the segment's files from being reopened (see
// segFile.retire); descriptors open now stay usable until close.
func (s *segment) retire() {
	s.f.retire()
	s.idx.f.retire()
	s.tidx.f.retire()
}

// remove closes and deletes the segment's files.
func (s *segment) remove() error {
	s.retire()
	s.idx.discard()
	s.tidx.discard()
	s.close()
	var errs []error
	// The key file goes last: a crash midway never leaves ciphertext
	// without its key.
	for _, p := range []string{s.path, s.idx.path, s.tidx.path, s.txnPath, s.kpath} {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// renameAll renames the segment's files (and the key file) by appending
// suffix to each name (a missing .txnindex is no error).
func (s *segment) renameAll(suffix string) error {
	for _, sf := range []*segFile{s.f, s.idx.f, s.tidx.f} {
		if err := sf.rename(sf.Name() + suffix); err != nil {
			return err
		}
	}
	s.path, s.idx.path, s.tidx.path = s.f.Name(), s.idx.f.Name(), s.tidx.f.Name()
	for _, p := range []*string{&s.txnPath, &s.kpath} {
		if *p == "" {
			continue
		}
		if err := os.Rename(*p, *p+suffix); err != nil && !(p == &s.txnPath && os.IsNotExist(err)) {
			return err
		}
		*p += suffix
	}
	return nil
}

// rel converts an absolute offset to one relative to the segment base.
func (s *segment) rel(o int64) uint32 { return uint32(o - s.base) }

// fits reports whether offset o is addressable in the segment's indexes.
func (s *segment) fits(o int64) bool { return o-s.base >= 0 && o-s.base <= math.MaxUint32 }

// track updates the in-memory summary and indexes for a batch at pos.
// Index write errors are returned but leave the segment consistent: the
// indexes are sparse, so a missing entry only makes lookups scan further.
func (s *segment) track(h record.Batch, pos int64, n int64, interval int64) error {
	var err error
	if s.firstTs < 0 {
		s.firstTs = h.MaxTimestamp()
	}
	if h.MaxTimestamp() > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp(), h.LastOffset()
	}
	if s.sinceIndex > interval && pos <= math.MaxUint32 {
		err = s.idx.append(offsetEntry(s.rel(h.LastOffset()), uint32(pos)))
		if err == nil && s.maxTs > s.lastTimeIdx {
			if err = s.tidx.append(timeEntry(s.maxTs, s.rel(s.maxTsOff))); err == nil {
				s.lastTimeIdx = s.maxTs
			}
		}
		s.sinceIndex = 0
	}
	s.sinceIndex += n
	s.next = h.LastOffset() + 1
	return err
}

// seal appends the final time index entry when the segment stops being
// active, so its largest timestamp is known from the file.
func (s *segment) seal() error {
	if s.maxTs > s.lastTimeIdx {
		if err := s.tidx.append(timeEntry(s.maxTs, s.rel(s.maxTsOff))); err != nil {
			return err
		}
		s.lastTimeIdx = s.maxTs
	}
	return s.flushIndexes()
}

// flushIndexes writes the indexes' pending entries.
func (s *segment) flushIndexes() error {
	return errors.Join(s.idx.flush(), s.tidx.flush())
}

// batchSize returns the size of the batch whose header is hdr (at least
// HeaderSize bytes; the rest may be absent).
func batchSize(hdr []byte) (int, error) {
	n, err := record.Peek(hdr)
	if errors.Is(err, record.ErrTruncated) && n >= record.HeaderSize {
		err = nil
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// header reads the batch header at pos into hdr, which it returns as the
// Batch; the batch must lie below limit. The callers take hdr from
// headerBufs for the call (an array on their stack would escape through
// segFile.ReadAt's decryption), so a read's lookup (find) allocates
// nothing; it allocated a header per batch it stepped over.
func (s *segment) header(pos, limit int64, hdr *[record.HeaderSize]byte) (record.Batch, int64, error) {
	if pos+record.HeaderSize > limit {
		return nil, 0, fmt.Errorf("%w: header at %d beyond %d", record.ErrTruncated, pos, limit)
	}
	if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
		return nil, 0, err
	}
	n, err := batchSize(hdr[:])
	if err != nil {
		return nil, 0, err
	}
	if pos+int64(n) > limit {
		return nil, 0, fmt.Errorf("%w: batch at %d ends beyond %d", record.ErrTruncated, pos, limit)
	}
	return record.Batch(hdr[:]), int64(n), nil
}

// headerBufs recycles header's buffers.
var headerBufs = sync.Pool{New: func() any { return new([record.HeaderSize]byte) }}

func getHeaderBuf() *[record.HeaderSize]byte { return headerBufs.Get().(*[record.HeaderSize]byte) }

// find returns the position of the first batch below limit whose last
// offset is >= offset, or ok=false if there is none.
func (s *segment) find(offset, limit int64, idxN int) (pos int64, ok bool, err error) {
	hb := getHeaderBuf()
	defer headerBufs.Put(hb)
	if pos, ok := s.readHint(offset, limit, hb); ok {
		return pos, true, nil
	}
	if offset > s.base {
		e, err := s.idx.floor(idxN, offsetEntryRel, offset-s.base)
		if err != nil {
			return 0, false, err
		}
		if e != nil {
			pos = offsetEntryPos(e)
		}
	}
	for indexed := pos > 0; pos < limit; {
		h, n, err := s.header(pos, limit, hb)
		if err != nil {
			if indexed {
				// A damaged index entry: fall back to a scan from the start.
				pos, indexed = 0, false
				continue
			}
			return 0, false, err
		}
		if h.LastOffset() >= offset {
			return pos, true, nil
		}
		pos += n
	}
	return 0, false, nil
}

// readHint returns the read hint's position if the batch there holds
// offset. Batches of a segment never overlap, so a batch that holds offset
// is the one to read, however old the hint (a truncation may have
// rewritten the bytes since; then it holds other offsets and is ignored).
func (s *segment) readHint(offset, limit int64, hb *[record.HeaderSize]byte) (int64, bool) {
	s.hintMu.Lock()
	next, pos := s.hintNext, s.hintPos
	s.hintMu.Unlock()
	if next != offset || pos <= 0 || pos >= limit {
		return 0, false
	}
	h, _, err := s.header(pos, limit, hb)
	if err != nil || h.BaseOffset() > offset || h.LastOffset() < offset {
		return 0, false
	}
	return pos, true
}

// setReadHint records that a read ended at offset next, byte pos.
func (s *segment) setReadHint(next, pos int64) {
	s.hintMu.Lock()
	s.hintNext, s.hintPos = next, pos
	s.hintMu.Unlock()
}

// findTime returns the position of the first batch below limit whose max
// timestamp is >= ts and last offset >= from, or ok=false.
func (s *segment) findTime(ts, from, limit int64, idxN, tidxN int) (pos int64, ok bool, err error) {
	hb := getHeaderBuf()
	defer headerBufs.Put(hb)
	start := max(from, s.base)
	e, err := s.tidx.floor(tidxN, timeEntryTs, ts-1)
	if err != nil {
		return 0, false, err
	}
	if e != nil {
		start = max(start, s.base+timeEntryRel(e))
	}
	pos, ok, err = s.find(start, limit, idxN)
	if !ok || err != nil {
		return 0, ok, err
	}
	for pos < limit {
		h, n, err := s.header(pos, limit, hb)
		if err != nil {
			return 0, false, err
		}
		if h.MaxTimestamp() >= ts && h.LastOffset() >= from {
			return pos, true, nil
		}
		pos += n
	}
	return 0, false, nil
}

// readBatch reads the whole batch at pos, checking its CRC.
func (s *segment) readBatch(pos, limit int64) (record.Batch, error) {
	hb := getHeaderBuf()
	defer headerBufs.Put(hb)
	_, n, err := s.header(pos, limit, hb)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := s.f.ReadAt(buf, pos); err != nil {
		return nil, err
	}
	b := record.Batch(buf)
	if !b.CheckCRC() {
		return nil, fmt.Errorf("%w: CRC mismatch at %s position %d", record.ErrCorrupt, s.path, pos)
	}
	return b, nil
}

// recoverResult describes what recovery kept of a segment.
type recoverResult struct {
	validBytes, droppedBytes int64
	reason                   error
}

// recoverFrom re-reads the whole .log, checking every batch (length, magic,
// CRC, offsets strictly increasing above prevLast and addressable), rebuilds
// both indexes, and truncates the file after the last valid batch. onBatch
// sees each valid batch header (leader epoch cache rebuild).
func (s *segment) recoverFrom(prevLast, interval int64, onBatch func(record.Batch)) (recoverResult, error) {
	st, err := s.f.Stat()
	if err != nil {
		return recoverResult{}, err
	}
	total := st.Size()
	s.size, s.next, s.maxTs, s.maxTsOff, s.firstTs, s.sinceIndex, s.lastTimeIdx = 0, s.base, -1, -1, -1, 0, -1
	s.idx.n, s.tidx.n, s.idx.pend, s.tidx.pend = 0, 0, nil, nil // rewritten below (index.write)
	var idxBuf, tidxBuf []byte
	// Collect index entries in memory, then write each file once.
	collect := &segment{base: s.base, next: s.base, maxTs: -1, maxTsOff: -1, firstTs: -1, lastTimeIdx: -1,
		idx: &index{size: offsetEntrySize}, tidx: &index{size: timeEntrySize}}
	// A buffer no larger than the file: a broker recovering thousands of
	// small active segments would otherwise allocate (and zero) 1 MiB each.
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, total), int(min(max(total, 4096), 1<<20)))
	hdr := make([]byte, record.HeaderSize)
	var buf []byte
	var pos int64
	var reason error
	last := prevLast
	for pos < total {
		if _, err := io.ReadFull(r, hdr); err != nil {
			reason = fmt.Errorf("torn batch header at position %d", pos)
			break
		}
		n, err := batchSize(hdr)
		if err != nil {
			reason = fmt.Errorf("bad batch header at position %d: %v", pos, err)
			break
		}
		if pos+int64(n) > total {
			reason = fmt.Errorf("batch at position %d (%d bytes) extends past end of file", pos, n)
			break
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		copy(buf, hdr)
		if _, err := io.ReadFull(r, buf[record.HeaderSize:]); err != nil {
			reason = fmt.Errorf("short batch at position %d", pos)
			break
		}
		b := record.Batch(buf)
		switch {
		case !b.CheckCRC():
			reason = fmt.Errorf("CRC mismatch at position %d", pos)
		case b.LastOffsetDelta() < 0 || b.RecordCount() < 0 || int64(b.RecordCount()) > int64(b.LastOffsetDelta())+1:
			reason = fmt.Errorf("bad record count or offset delta at position %d", pos)
		case b.BaseOffset() <= last || b.BaseOffset() < s.base:
			reason = fmt.Errorf("offset %d at position %d does not follow %d", b.BaseOffset(), pos, last)
		case !s.fits(b.LastOffset()):
			reason = fmt.Errorf("offset %d at position %d not addressable from base %d", b.LastOffset(), pos, s.base)
		}
		if reason != nil {
			break
		}
		collect.trackMem(b, pos, int64(n), interval, &idxBuf, &tidxBuf)
		if onBatch != nil {
			onBatch(b)
		}
		last = b.LastOffset()
		pos += int64(n)
	}
	s.size, s.next, s.maxTs, s.maxTsOff, s.firstTs, s.sinceIndex, s.lastTimeIdx =
		pos, collect.next, collect.maxTs, collect.maxTsOff, collect.firstTs, collect.sinceIndex, collect.lastTimeIdx
	if err := errors.Join(s.idx.write(idxBuf), s.tidx.write(tidxBuf)); err != nil {
		return recoverResult{}, err
	}
	res := recoverResult{validBytes: pos, droppedBytes: total - pos, reason: reason}
	if pos < total {
		s.cut = true
		if err := s.f.Truncate(pos); err != nil {
			return res, err
		}
	}
	return res, nil
}

// trackMem is track for recovery, appending index entries to buffers.
func (s *segment) trackMem(h record.Batch, pos, n, interval int64, idxBuf, tidxBuf *[]byte) {
	if s.firstTs < 0 {
		s.firstTs = h.MaxTimestamp()
	}
	if h.MaxTimestamp() > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp(), h.LastOffset()
	}
	if s.sinceIndex > interval && pos <= math.MaxUint32 {
		*idxBuf = append(*idxBuf, offsetEntry(s.rel(h.LastOffset()), uint32(pos))...)
		if s.maxTs > s.lastTimeIdx {
			*tidxBuf = append(*tidxBuf, timeEntry(s.maxTs, s.rel(s.maxTsOff))...)
			s.lastTimeIdx = s.maxTs
		}
		s.sinceIndex = 0
	}
	s.sinceIndex += n
	s.next = h.LastOffset() + 1
}

// load fills the summary of a segment trusted to be intact (below the
// recovery point, or after a clean shutdown) from its files: the size from
// the .log, the largest timestamp from the last .timeindex entry, the next
// offset by walking batch headers after the last .index entry. It returns
// ErrIndexCorrupt if an index fails its sanity check; the caller then
// recovers the segment.
func (s *segment) load(nextBase int64) error {
	hb := getHeaderBuf()
	defer headerBufs.Put(hb)
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	s.size = st.Size()
	if s.idx.torn() || s.tidx.torn() {
		return fmt.Errorf("%w: torn entry", ErrIndexCorrupt)
	}
	// Walk headers from the last index entry to find the end offset.
	var pos int64
	s.next = s.base
	if s.idx.n > 0 {
		e, err := s.idx.entry(s.idx.n - 1)
		if err != nil {
			return err
		}
		pos = offsetEntryPos(e)
		if pos >= s.size || offsetEntryRel(e) < 0 {
			return fmt.Errorf("%w: last entry beyond the log", ErrIndexCorrupt)
		}
	}
	var lastPos int64 = -1
	for pos < s.size {
		h, n, err := s.header(pos, s.size, hb)
		if err != nil {
			return fmt.Errorf("%w: walking the log: %v", ErrIndexCorrupt, err)
		}
		if h.LastOffset() < s.next-1 || h.BaseOffset() < s.base {
			return fmt.Errorf("%w: offsets go backwards at %d", ErrIndexCorrupt, pos)
		}
		s.next = h.LastOffset() + 1
		lastPos = pos
		pos += n
	}
	if s.idx.n > 0 {
		e, _ := s.idx.entry(s.idx.n - 1)
		if s.base+offsetEntryRel(e) >= s.next {
			return fmt.Errorf("%w: last entry offset beyond the log", ErrIndexCorrupt)
		}
	}
	if nextBase >= 0 && s.next > nextBase {
		return fmt.Errorf("%w: segment overlaps the next one", ErrIndexCorrupt)
	}
	if lastPos >= 0 {
		s.sinceIndex = s.size - lastPos
		if first, _, err := s.header(0, s.size, hb); err == nil {
			s.firstTs = first.MaxTimestamp()
		}
	}
	if s.tidx.n > 0 {
		e, err := s.tidx.entry(s.tidx.n - 1)
		if err != nil {
			return err
		}
		s.lastTimeIdx = timeEntryTs(e)
		s.maxTs, s.maxTsOff = s.lastTimeIdx, s.base+timeEntryRel(e)
		if s.maxTsOff >= s.next {
			return fmt.Errorf("%w: time index names offset %d beyond the log", ErrIndexCorrupt, s.maxTsOff)
		}
	}
	// The active segment's largest timestamp may not be indexed yet: look
	// at the batches after the last index entry too.
	pos = 0
	if s.idx.n > 0 {
		e, _ := s.idx.entry(s.idx.n - 1)
		pos = offsetEntryPos(e)
	}
	for pos < s.size {
		h, n, err := s.header(pos, s.size, hb)
		if err != nil {
			break
		}
		if h.MaxTimestamp() > s.maxTs {
			s.maxTs, s.maxTsOff = h.MaxTimestamp(), h.LastOffset()
		}
		pos += n
	}
	return nil
}
