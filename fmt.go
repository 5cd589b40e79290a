package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/benchform/benchform/lang"
)

func (c *cli) validate(args []string) int {
	fs := c.newFlagSet("validate", "validate [DIR] [options]")
	var vars varFlags
	vars.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	dir := "."
	if len(pos) > 0 {
		dir = pos[0]
	}
	// Variables without a value are fine here: validate checks the
	// configuration, not one particular set of values.
	if cfg := c.loadConfig(dir, lang.LoadOptions{Vars: vars.args, AllowUnset: true}); cfg == nil {
		return exitError
	}
	fmt.Fprintln(c.stdout, "Success! The configuration is valid.")
	return exitOK
}

func (c *cli) fmt(args []string) int {
	fs := c.newFlagSet("fmt", "fmt [DIR|FILE...] [options]")
	check := fs.Bool("check", false, "change nothing; exit 3 when a file is not formatted")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) == 0 {
		pos = []string{"."}
	}
	var paths []string
	for _, p := range pos {
		info, err := os.Stat(p)
		if err != nil {
			return c.errorf("%s", err)
		}
		if !info.IsDir() {
			paths = append(paths, p)
			continue
		}
		files, err := lang.ConfigFiles(p)
		if err != nil {
			return c.errorf("%s", err)
		}
		paths = append(paths, files...)
	}

	unformatted := false
	for _, path := range paths {
		src, diags := lang.ReadSource(path)
		if diags.HasErrors() {
			c.printDiags(nil, diags)
			return exitError
		}
		// Formatting a file that does not parse would mangle it.
		if _, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos); diags.HasErrors() {
			c.printDiags(map[string]*hcl.File{path: {Bytes: src}}, diags)
			return exitError
		}
		out := hclwrite.Format(src)
		if bytes.Equal(src, out) {
			continue
		}
		unformatted = true
		fmt.Fprintln(c.stdout, path)
		if *check {
			continue
		}
		info, err := os.Stat(path)
		if err != nil {
			return c.errorf("%s", err)
		}
		if err := os.WriteFile(path, out, info.Mode().Perm()); err != nil {
			return c.errorf("%s", err)
		}
	}
	if *check && unformatted {
		return exitFormat
	}
	return exitOK
}
