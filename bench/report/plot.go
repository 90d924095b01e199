package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// plot draws three panels: throughput by system, latency vs load, and
// throughput vs partitions. Missing values are skipped.
func (r *run) plot() string {
	var b strings.Builder
	const W, H = 1380, 460
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	r.barPanel(&b, 10, 10, 500, 440)
	r.latencyPanel(&b, 530, 10, 420, 440)
	r.scalePanel(&b, 970, 10, 400, 440)
	b.WriteString("</svg>\n")
	return b.String()
}

func text(b *strings.Builder, x, y float64, anchor, s string, extra ...string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" %s>%s</text>`+"\n", x, y, anchor, strings.Join(extra, " "), esc(s))
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (r *run) barPanel(b *strings.Builder, x0, y0, w, h float64) {
	type bar struct {
		label, name, color string
	}
	bars := []bar{
		{"disk dd fdatasync", "disk-dd", "#888"},
		{"loopback TCP", "tcp-loopback", "#888"},
		{"trib produce acks=1", "trib-produce-acks1", "#1f77b4"},
		{"trib produce acks=all", "trib-produce-acksall", "#1f77b4"},
		{"kfake mem produce", "kfake-mem-produce", "#ff7f0e"},
		{"kfake DataDir produce", "kfake-disk-produce", "#ff7f0e"},
		{"NATS JS publish", "nats-produce", "#2ca02c"},
		{"trib consume", "trib-consume", "#1f77b4"},
		{"kfake mem consume", "kfake-mem-consume", "#ff7f0e"},
		{"kfake DataDir consume", "kfake-disk-consume", "#ff7f0e"},
		{"NATS JS consume", "nats-consume", "#2ca02c"},
	}
	text(b, x0+w/2, y0+14, "middle", "Throughput, MB/s (1 KiB records)", `font-weight="bold" font-size="13"`)
	maxV := 1.0
	for _, br := range bars {
		if v := r.mbps(br.name); !math.IsNaN(v) && v > maxV {
			maxV = v
		}
	}
	left, top := x0+140, y0+30
	bw := w - 150 - 50
	rowH := (h - 40) / float64(len(bars))
	for i, br := range bars {
		y := top + float64(i)*rowH
		text(b, left-6, y+rowH*0.6, "end", br.label)
		v := r.mbps(br.name)
		if math.IsNaN(v) {
			text(b, left+4, y+rowH*0.6, "start", "n/a ("+r.status(br.name)+")", `fill="#b00"`)
			continue
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", left, y+2, bw*v/maxV, rowH-6, br.color)
		text(b, left+bw*v/maxV+4, y+rowH*0.6, "start", strconv.FormatFloat(v, 'f', 0, 64))
	}
}

// axes draws a frame with y ticks for a log or linear scale and returns a
// mapper from value to pixel y.
func axes(b *strings.Builder, x0, y0, w, h float64, ymin, ymax float64, logY bool, ylabel string) func(float64) float64 {
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", x0, y0, w, h)
	var ymap func(float64) float64
	if logY {
		if !(ymin > 0) || !(ymax > ymin) || math.IsInf(ymax, 0) {
			ymin, ymax = 0.1, 10 // never a tick loop from -Inf
		}
		lo, hi := math.Log10(ymin), math.Log10(ymax)
		ymap = func(v float64) float64 { return y0 + h - h*(math.Log10(math.Max(v, ymin))-lo)/(hi-lo) }
		for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
			v := math.Pow(10, e)
			if v < ymin || v > ymax {
				continue
			}
			y := ymap(v)
			fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, x0+w, y, y)
			text(b, x0-4, y+4, "end", strconv.FormatFloat(v, 'g', -1, 64))
		}
	} else {
		ymap = func(v float64) float64 { return y0 + h - h*(v-ymin)/(ymax-ymin) }
		for i := 0; i <= 4; i++ {
			v := ymin + (ymax-ymin)*float64(i)/4
			y := ymap(v)
			fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, x0+w, y, y)
			text(b, x0-4, y+4, "end", strconv.FormatFloat(v, 'f', 0, 64))
		}
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n", x0-40, y0+h/2, x0-40, y0+h/2, esc(ylabel))
	return ymap
}

func polyline(b *strings.Builder, pts [][2]float64, color, dash string) {
	if len(pts) == 0 {
		return
	}
	var s []string
	for _, p := range pts {
		s = append(s, fmt.Sprintf("%.1f,%.1f", p[0], p[1]))
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", p[0], p[1], color)
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`+"\n", strings.Join(s, " "), color, dash)
}

func (r *run) latencyPanel(b *strings.Builder, x0, y0, w, h float64) {
	text(b, x0+w/2, y0+14, "middle", "Tributary p99 latency vs load, ms (log)", `font-weight="bold" font-size="13"`)
	px0, py0, pw, ph := x0+50, y0+30, w-60, h-110
	ymin, ymax := 0.1, 10.0
	pcts := []int{25, 50, 75, 100}
	type series struct {
		acks, kind, color, dash, label string
	}
	ss := []series{
		{"acks1", "e2e", "#1f77b4", "", "e2e p99 acks=1"},
		{"acks1", "ack", "#1f77b4", "5,3", "ack p99 acks=1"},
		{"acksall", "e2e", "#d62728", "", "e2e p99 acks=all"},
		{"acksall", "ack", "#d62728", "5,3", "ack p99 acks=all"},
	}
	val := func(s series, pct int) float64 {
		_, res := r.lat(fmt.Sprintf("trib-lat-%s-%d", s.acks, pct))
		if res == nil || res.E2ELatency == nil || res.ProduceLatency == nil {
			return math.NaN()
		}
		v := res.ProduceLatency.P99
		if s.kind == "e2e" {
			v = res.E2ELatency.P99
		}
		if v <= 0 {
			return math.NaN() // a failed step measured nothing; a log axis has no 0
		}
		return v
	}
	for _, s := range ss {
		for _, p := range pcts {
			if v := val(s, p); !math.IsNaN(v) {
				ymax = math.Max(ymax, v*1.5)
				ymin = math.Min(ymin, v/1.5)
			}
		}
	}
	ymap := axes(b, px0, py0, pw, ph, ymin, ymax, true, "p99 ms")
	xmap := func(p int) float64 { return px0 + pw*float64(p-25)/75*0.9 + pw*0.05 }
	for _, p := range pcts {
		text(b, xmap(p), py0+ph+14, "middle", strconv.Itoa(p)+"%")
	}
	text(b, px0+pw/2, py0+ph+30, "middle", "load, % of peak records/s")
	if y := ymap(5); y > py0 && y < py0+ph {
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#2ca02c" stroke-dasharray="2,2"/>`+"\n", px0, px0+pw, y, y)
		text(b, px0+pw-2, y-3, "end", "5 ms target", `fill="#2ca02c"`)
	}
	for i, s := range ss {
		var pts [][2]float64
		for _, p := range pcts {
			if v := val(s, p); !math.IsNaN(v) {
				pts = append(pts, [2]float64{xmap(p), ymap(v)})
			}
		}
		polyline(b, pts, s.color, s.dash)
		ly := py0 + ph + 48 + float64(i%2)*14
		lx := px0 + float64(i/2)*pw/2
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`+"\n", lx, lx+20, ly-4, ly-4, s.color, s.dash)
		text(b, lx+24, ly, "start", s.label)
	}
}

func (r *run) scalePanel(b *strings.Builder, x0, y0, w, h float64) {
	text(b, x0+w/2, y0+14, "middle", "Tributary produce MB/s vs partitions", `font-weight="bold" font-size="13"`)
	px0, py0, pw, ph := x0+50, y0+30, w-60, h-110
	pts := scalePoints(r)
	ymax := 1.0
	for _, p := range pts {
		if v := r.mbps("trib-scale-" + strconv.Itoa(p)); !math.IsNaN(v) {
			ymax = math.Max(ymax, v*1.2)
		}
	}
	ymap := axes(b, px0, py0, pw, ph, 0, ymax, false, "MB/s")
	if len(pts) == 0 {
		return
	}
	lmin, lmax := math.Log10(float64(pts[0])), math.Log10(float64(pts[len(pts)-1]))
	if lmax == lmin {
		lmax = lmin + 1
	}
	xmap := func(p int) float64 { return px0 + pw*0.05 + pw*0.9*(math.Log10(float64(p))-lmin)/(lmax-lmin) }
	var line [][2]float64
	for _, p := range pts {
		x := xmap(p)
		text(b, x, py0+ph+14, "middle", strconv.Itoa(p))
		v := r.mbps("trib-scale-" + strconv.Itoa(p))
		if math.IsNaN(v) {
			text(b, x, py0+ph-6, "middle", "failed", `fill="#b00"`)
			continue
		}
		line = append(line, [2]float64{x, ymap(v)})
		if rss := num(r.extra["rss_scale_"+strconv.Itoa(p)]); !math.IsNaN(rss) {
			text(b, x, ymap(v)-8, "middle", fmt.Sprintf("%.0f MiB RSS", rss/1024), `fill="#555"`)
		}
	}
	polyline(b, line, "#1f77b4", "")
	text(b, px0+pw/2, py0+ph+30, "middle", "partitions (log scale), acks=1, labels: broker RSS")
}
