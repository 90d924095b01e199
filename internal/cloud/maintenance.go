package cloud

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Maintenance windows. A cluster may have a weekly window (DigitalOcean's
// {day, hour}: a lower-case English day and "HH:MM", UTC) that lasts
// maintenanceLength. A version upgrade requested while the cluster has a
// window is recorded as pending (shown as maintenance_window.pending with
// a description) and starts when the window opens; install_update starts
// the pending upgrade at once (without one, it is a rolling restart).
// Without a window an upgrade starts at once, as before.

// maintenanceLength is how long a maintenance window stays open.
const maintenanceLength = 4 * time.Hour

var days = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

var hourRE = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])(:00)?$`)

// parseWindow validates a window; it returns the day and "HH:MM".
func parseWindow(day, hour string) (string, string, error) {
	day = strings.ToLower(strings.TrimSpace(day))
	if !slices.Contains(days, day) {
		return "", "", errorf(KindInvalid, "invalid maintenance day %q: one of %s", day, strings.Join(days, ", "))
	}
	m := hourRE.FindStringSubmatch(strings.TrimSpace(hour))
	if m == nil {
		return "", "", errorf(KindInvalid, "invalid maintenance hour %q: HH:MM in UTC", hour)
	}
	h, _ := strconv.Atoi(m[1])
	return day, fmt.Sprintf("%02d:%s", h, m[2]), nil
}

// inWindow reports whether now falls in the weekly window that opens on
// day at hour (UTC) and lasts maintenanceLength.
func inWindow(day, hour string, now time.Time) bool {
	d := slices.Index(days, day)
	if d < 0 {
		return false
	}
	var h, m int
	if _, err := fmt.Sscanf(hour, "%d:%d", &h, &m); err != nil {
		return false
	}
	now = now.UTC()
	// The last opening at or before now (this week's or last week's).
	open := time.Date(now.Year(), now.Month(), now.Day(), h, m, 0, 0, time.UTC).
		AddDate(0, 0, d-int(now.Weekday()))
	if open.After(now) {
		open = open.AddDate(0, 0, -7)
	}
	return now.Sub(open) < maintenanceLength
}

// UpdateMaintenance sets a cluster's maintenance window.
func (s *Service) UpdateMaintenance(ctx context.Context, id, day, hour string) error {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return err
	}
	day, hour, err = parseWindow(day, hour)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.SetMaintenance(ctx, c.ID, day, hour, c.PendingVersion); err != nil {
		return err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, "maintenance_window_update")
	return nil
}

// UpgradeCluster upgrades a cluster to version: at once when it has no
// maintenance window or force is set, else when its window next opens.
func (s *Service) UpgradeCluster(ctx context.Context, id, version string, force bool) error {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return err
	}
	if version == "" {
		return errorf(KindInvalid, "version is required")
	}
	if version == c.Version {
		return errorf(KindInvalid, "the cluster already runs version %s", c.Version)
	}
	if !slices.Contains(s.cfg.Catalog.Versions, version) {
		return errorf(KindInvalid, "invalid version %q: this installation offers %v", version, s.cfg.Catalog.Versions)
	}
	if c.MaintenanceDay == "" || force {
		_, err := s.RestartCluster(ctx, c.ID, version)
		return err
	}
	if err := s.cfg.Store.SetMaintenance(ctx, c.ID, c.MaintenanceDay, c.MaintenanceHour, version); err != nil {
		return err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, "cluster_upgrade_pending_"+version)
	s.log.Info("upgrade waits for the maintenance window", "cluster", c.ID, "version", version, "day", c.MaintenanceDay, "hour", c.MaintenanceHour)
	return nil
}

// InstallUpdate starts the pending upgrade now, or a rolling restart
// when none is pending.
func (s *Service) InstallUpdate(ctx context.Context, id string) error {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.RestartCluster(ctx, c.ID, c.PendingVersion)
	return err
}

// startDueUpdate starts c's pending upgrade when its window is open; the
// reconciler calls it while c has no running operation.
func (s *Service) startDueUpdate(ctx context.Context, c Cluster) error {
	if c.PendingVersion == "" || c.Status != StatusOnline || !inWindow(c.MaintenanceDay, c.MaintenanceHour, s.now()) {
		return nil
	}
	s.log.Info("maintenance window open: starting the pending upgrade", "cluster", c.ID, "version", c.PendingVersion)
	_, err := s.RestartCluster(ctx, c.ID, c.PendingVersion)
	return err
}

// maintenanceDescription describes what the next window will do.
func maintenanceDescription(c Cluster) []string {
	if c.PendingVersion == "" {
		return nil
	}
	return []string{fmt.Sprintf("Upgrade from version %s to %s, one broker at a time", c.Version, c.PendingVersion)}
}
