// httpload: the benchmarks' closed-loop HTTP load generator (packages/test-platform/src/load.ts), built on
// vegeta's library (github.com/tsenart/vegeta/v12/lib). It replaces wrk, which came from a pinned Debian package:
// this builds from the Go module proxy on any Linux and on macOS.
//
//	httpload -url URL -c 16 -d 5s [-method POST] [-H 'name: value']... [-body FILE] [-unique-header NAME -unique-prefix P]
//
// -c workers each send the next request as soon as the previous one is answered (rate 0: as fast as answers come,
// as wrk does), on at most -c keep-alive connections. With -unique-header every request carries a value of that
// header that no other request of the run has (an idempotency key). It prints one JSON line:
// {"requests","durationUs","p50Us","p99Us","maxUs","non2xx3xx","socketErrors","timeouts"}; requests counts every
// request that got an answer or an error, including those in flight when -d ran out (vegeta waits for them).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	Requests     uint64 `json:"requests"`
	DurationUs   int64  `json:"durationUs"`
	P50Us        int64  `json:"p50Us"`
	P99Us        int64  `json:"p99Us"`
	MaxUs        int64  `json:"maxUs"`
	Non2xx3xx    uint64 `json:"non2xx3xx"`
	SocketErrors uint64 `json:"socketErrors"`
	Timeouts     uint64 `json:"timeouts"`
}

// version is set at build time (-X main.version=...).
var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("httpload", flag.ContinueOnError)
	url := fs.String("url", "", "target URL")
	conns := fs.Uint64("c", 16, "concurrent workers (and keep-alive connections)")
	dur := fs.Duration("d", 5*time.Second, "how long to send requests")
	method := fs.String("method", http.MethodGet, "HTTP method")
	bodyFile := fs.String("body", "", "file whose bytes are every request's body")
	unique := fs.String("unique-header", "", "header that gets a value of its own on every request")
	prefix := fs.String("unique-prefix", "httpload", "prefix of the unique header's values")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	showVersion := fs.Bool("version", false, "print the version and exit")
	var hs headers
	fs.Var(&hs, "H", "request header 'name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println("httpload", version)
		return nil
	}
	if *url == "" || *conns == 0 || *dur <= 0 {
		return errors.New("-url, -c > 0 and -d > 0 are required")
	}
	header := http.Header{}
	for _, h := range hs {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("header %q is not 'name: value'", h)
		}
		header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	var body []byte
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			return err
		}
		body = b
	}

	var sent atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		t.Method, t.URL, t.Body = *method, *url, body
		t.Header = header.Clone()
		if *unique != "" {
			t.Header.Set(*unique, fmt.Sprintf("%s-%d", *prefix, sent.Add(1)))
		}
		return nil
	}
	attacker := vegeta.NewAttacker(
		vegeta.Workers(*conns), vegeta.MaxWorkers(*conns), vegeta.Connections(int(*conns)),
		vegeta.MaxConnections(int(*conns)), vegeta.KeepAlive(true), vegeta.Timeout(*timeout), vegeta.Redirects(0),
	)

	var out result
	// Every latency, sorted at the end: exact percentiles, and cheaper per request than vegeta's streaming
	// estimators (vegeta.Metrics), which matters when the generator shares the cores it measures.
	latencies := make([]time.Duration, 0, 1<<16)
	start := time.Now()
	// Rate 0 with MaxWorkers: every worker sends its next request as soon as its last one is answered.
	for res := range attacker.Attack(targeter, vegeta.Rate{Freq: 0}, *dur, "httpload") {
		latencies = append(latencies, res.Latency)
		switch {
		case res.Code == 0 && isTimeout(res.Error):
			out.Timeouts++
		case res.Code == 0:
			out.SocketErrors++
		case res.Code < 200 || res.Code >= 400:
			out.Non2xx3xx++
		}
	}
	out.DurationUs = time.Since(start).Microseconds()
	out.Requests = uint64(len(latencies))
	if len(latencies) > 0 {
		slices.Sort(latencies)
		at := func(q float64) int64 { return latencies[int(q*float64(len(latencies)-1))].Microseconds() }
		out.P50Us, out.P99Us, out.MaxUs = at(0.5), at(0.99), latencies[len(latencies)-1].Microseconds()
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func isTimeout(msg string) bool {
	return strings.Contains(msg, "Timeout") || strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "timeout")
}
