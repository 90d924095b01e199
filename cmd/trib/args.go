package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// nameArgs lets a command take its names (topics, groups) as positional
// arguments or with a repeatable flag such as --topic or --group, the
// kafka-*.sh and kcat habit. It sets the command's Args validation.
type nameArgs struct {
	flag []string
}

// addNameFlag registers --flag (and -short) on c and requires between min
// and max names in total (max < 0: no limit).
func addNameFlag(c *cobra.Command, flag, short, what string, min, max int) *nameArgs {
	n := &nameArgs{}
	c.Flags().StringArrayVarP(&n.flag, flag, short, nil, what+", instead of the positional argument (repeatable)")
	c.Args = func(_ *cobra.Command, args []string) error {
		total := len(args) + len(n.flag)
		switch {
		case total < min:
			return fmt.Errorf("missing %s: give it as an argument or with --%s", what, flag)
		case max >= 0 && total > max:
			return fmt.Errorf("expected at most %d %s, got %d", max, what, total)
		}
		return nil
	}
	return n
}

// names returns the positional names followed by the flag's.
func (n *nameArgs) names(args []string) []string { return append(slices.Clone(args), n.flag...) }

// rejectUnknownSubcommands makes every command that only groups
// subcommands (trib topic, trib group, ...) fail on an unknown subcommand,
// with cobra's suggestions, instead of printing help and exiting 0. Without
// arguments such a command still prints its help.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() || c == c.Root() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		return unknownCommand(c, args[0])
	}
}

// unknownCommand is cobra's "unknown command" error with its suggestions.
func unknownCommand(c *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default for the root
	}
	if s := c.SuggestionsFor(name); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	msg += fmt.Sprintf("\n\nRun '%s --help' for usage.", c.CommandPath())
	return errors.New(msg)
}
