package connect

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
)

// The worker has one logger, "root" (its slog handler's level); Connect's
// /admin/loggers reads and sets it by Log4j level name. Cluster scope
// writes logger-cluster-root to the config topic and every worker applies
// it.

// logLevels maps Log4j level names to slog levels.
var logLevels = map[string]slog.Level{
	"TRACE": slog.LevelDebug - 4, "DEBUG": slog.LevelDebug, "INFO": slog.LevelInfo,
	"WARN": slog.LevelWarn, "ERROR": slog.LevelError, "FATAL": slog.LevelError + 4, "OFF": slog.LevelError + 8,
}

// LoggerLevel is the JSON shape of one logger.
type LoggerLevel struct {
	Level        string `json:"level"`
	LastModified *int64 `json:"last_modified"`
}

func levelName(l slog.Level) string {
	best, name := slog.Level(1<<30), "INFO"
	for n, v := range logLevels {
		if v >= l && v < best {
			best, name = v, n
		}
	}
	return name
}

// Loggers returns the worker's loggers.
func (h *Herder) Loggers() map[string]LoggerLevel {
	l, _ := h.Logger("root")
	return map[string]LoggerLevel{"root": l}
}

// Logger returns one logger's level.
func (h *Herder) Logger(name string) (LoggerLevel, error) {
	if name != "root" || h.cfg.LogLevel == nil {
		return LoggerLevel{}, &NotFoundError{Msg: "Logger " + name + " not found."}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := LoggerLevel{Level: levelName(h.cfg.LogLevel.Level())}
	if h.levelModified != 0 {
		m := h.levelModified
		out.LastModified = &m
	}
	return out, nil
}

func (h *Herder) setLogLevel(level string) bool {
	l, ok := logLevels[strings.ToUpper(level)]
	if !ok || h.cfg.LogLevel == nil {
		return false
	}
	h.cfg.LogLevel.Set(l)
	h.mu.Lock()
	h.levelModified = time.Now().UnixMilli()
	h.mu.Unlock()
	return true
}

// SetLogger sets a logger's level on this worker, or on every worker of
// the cluster (written to the config topic by the leader).
func (h *Herder) SetLogger(ctx context.Context, name, level string, cluster bool) ([]string, error) {
	if _, ok := logLevels[strings.ToUpper(level)]; !ok {
		return nil, badRequest("Invalid log level '%s'.", level)
	}
	if name != "root" || h.cfg.LogLevel == nil {
		return nil, badRequest("Only the logger 'root' exists on this worker")
	}
	if !cluster {
		h.setLogLevel(level)
		return []string{"root"}, nil
	}
	if err := h.leader(ctx); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(map[string]string{"level": strings.ToUpper(level)})
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	if err := h.configLog.Send(ctx, []byte("logger-cluster-root"), b); err != nil {
		return nil, err
	}
	return nil, h.configLog.ReadToEnd(ctx)
}
