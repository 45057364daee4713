// compose-check validates a compose file the way `docker compose config` does, with the
// Compose Specification's reference library (compose-go): schema, interpolation, merge of
// anchors, and the semantic checks (depends_on targets, secrets, volumes, ...). No Docker
// engine is needed. Prints the resolved project as YAML on success.
//
//	compose-check -f docker/compose.yaml --env-file docker/.env.example
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := flag.String("f", "compose.yaml", "compose file")
	envFile := flag.String("env-file", "", "env file used for interpolation")
	quiet := flag.Bool("q", false, "only validate, print nothing on success")
	flag.Parse()

	opts := []cli.ProjectOptionsFn{cli.WithName("retrain"), cli.WithResolvedPaths(true)}
	if *envFile != "" {
		opts = append(opts, cli.WithEnvFiles(*envFile), cli.WithDotEnv)
	}
	options, err := cli.NewProjectOptions([]string{*file}, opts...)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	if *quiet {
		return
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
	os.Exit(1)
}
