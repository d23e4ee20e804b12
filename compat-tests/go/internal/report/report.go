// Package report prints one JSON line per scenario for the pytest side to assert on.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Line is what a scenario reports: its result, or the error that ended it.
type Line struct {
	Client   string `json:"client"`
	Scenario string `json:"scenario"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
	Result   any    `json:"result,omitempty"`
	Millis   int64  `json:"ms"`
}

// Run runs fn and prints its line; a panic is reported as the scenario's error.
func Run(client, scenario string, fn func() (any, error)) {
	start := time.Now()
	line := Line{Client: client, Scenario: scenario}
	func() {
		defer func() {
			if r := recover(); r != nil {
				line.Error = fmt.Sprintf("panic: %v", r)
			}
		}()
		res, err := fn()
		line.Result = res
		if err != nil {
			line.Error = err.Error()
		} else {
			line.OK = true
		}
	}()
	line.Millis = time.Since(start).Milliseconds()
	out, err := json.Marshal(line)
	if err != nil {
		out, _ = json.Marshal(Line{Client: client, Scenario: scenario, Error: "marshal: " + err.Error()})
	}
	fmt.Fprintln(os.Stdout, string(out))
}

// Deadline is a failure guard for a scenario's waits, not a timing.
const Deadline = 60 * time.Second
