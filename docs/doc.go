// Package docs holds jobrunner's documentation pages (*.md in this
// directory; README.md at the root has the map) and, in its tests, the
// checks that keep them in step with the code: every setting, flag, metric
// and log event the code has is listed and every one listed exists, every
// link and anchor resolves, every Go snippet compiles, and every Go
// identifier and test a page names exists. It has no code of its own.
package docs
