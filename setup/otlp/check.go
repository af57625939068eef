package otlp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// samplers are the values of OTEL_TRACES_SAMPLER the SDK knows.
var samplers = []string{
	"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
}

// check reads the variables the SDK and the exporter would read and
// returns the first bad one, named with its value as the worker's other
// settings are ("NAME=\"value\": want ..."), except header values, which
// are secrets. Left to the SDK, a bad value is ignored, or reported as a
// plain-text line on stderr (quoting a header's value) while the program
// runs on without traces.
func check(getenv func(string) string) error {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	if v := get("OTEL_SDK_DISABLED"); v != "" && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
		return fmt.Errorf("OTEL_SDK_DISABLED=%q: want true or false", v)
	}
	if v := get("OTEL_TRACES_EXPORTER"); v != "" && v != "otlp" && v != "none" {
		return fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp or none (OTLP over HTTP is the only exporter)", v)
	}
	for _, sig := range []string{"", "TRACES_"} {
		name := "OTEL_EXPORTER_OTLP_" + sig
		if v := get(name + "ENDPOINT"); v != "" {
			if err := checkEndpoint(v); err != nil {
				return fmt.Errorf("%sENDPOINT=%q: %w", name, v, err)
			}
		}
		if v := get(name + "TIMEOUT"); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return fmt.Errorf("%sTIMEOUT=%q: want whole milliseconds, e.g. 10000", name, v)
			}
		}
		if v := get(name + "COMPRESSION"); v != "" && v != "gzip" && v != "none" {
			return fmt.Errorf("%sCOMPRESSION=%q: want gzip or none", name, v)
		}
		if v := get(name + "INSECURE"); v != "" && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return fmt.Errorf("%sINSECURE=%q: want true or false", name, v)
		}
		if v := getenv(name + "HEADERS"); strings.TrimSpace(v) != "" {
			if err := checkHeaders(v); err != nil {
				return fmt.Errorf("%sHEADERS: %w", name, err)
			}
		}
		if err := checkCerts(get, name); err != nil {
			return err
		}
	}
	if err := checkSampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return err
	}
	for _, name := range []string{"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"} {
		if v := get(name); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return fmt.Errorf("%s=%q: want a whole number >= 0", name, v)
			}
		}
	}
	return nil
}

// checkEndpoint checks an OTLP/HTTP endpoint: an http or https URL with a
// host.
func checkEndpoint(v string) error {
	const want = "want an http:// or https:// URL such as http://otel-collector:4318"
	u, err := url.Parse(v)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not a URL (%v); %s", err, want)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New(want)
	case u.Hostname() == "":
		return fmt.Errorf("no host; %s", want)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q; %s", p, want)
		}
	}
	return nil
}

// checkHeaders checks a list of key=value headers (values URL-encoded),
// naming a bad entry by its position only: header values carry API keys.
func checkHeaders(v string) error {
	for i, h := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(h, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok:
			return fmt.Errorf("entry %d is not key=value", i+1)
		case !validHeaderKey(k):
			return fmt.Errorf("entry %d: %q is not a header name", i+1, k)
		}
		if _, err := url.PathUnescape(val); err != nil {
			return fmt.Errorf("entry %d (%s): the value is not URL-encoded (escape %%, and , as %%2C)", i+1, k)
		}
	}
	return nil
}

// validHeaderKey reports whether k is an HTTP header name (RFC 9110 token).
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c > 0x7e || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

// checkCerts checks the certificate files the exporter would read.
func checkCerts(get func(string) string, name string) error {
	if f := get(name + "CERTIFICATE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("%sCERTIFICATE=%q: %w", name, f, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fmt.Errorf("%sCERTIFICATE=%q: no PEM certificate in the file", name, f)
		}
	}
	cert, key := get(name+"CLIENT_CERTIFICATE"), get(name+"CLIENT_KEY")
	switch {
	case cert == "" && key == "":
		return nil
	case cert == "" || key == "":
		return fmt.Errorf("%sCLIENT_CERTIFICATE and %sCLIENT_KEY: set both or neither", name, name)
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return fmt.Errorf("%sCLIENT_CERTIFICATE=%q, %sCLIENT_KEY=%q: %w", name, cert, name, key, err)
	}
	return nil
}

// checkSampler checks OTEL_TRACES_SAMPLER and, for the ratio samplers,
// OTEL_TRACES_SAMPLER_ARG.
func checkSampler(s, arg string) error {
	if s == "" {
		return nil
	}
	if !slices.Contains(samplers, strings.ToLower(s)) {
		return fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want one of %s", s, strings.Join(samplers, ", "))
	}
	if arg == "" || !strings.HasSuffix(strings.ToLower(s), "traceidratio") {
		return nil
	}
	if r, err := strconv.ParseFloat(arg, 64); err != nil || r < 0 || r > 1 {
		return fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1, e.g. 0.25", arg)
	}
	return nil
}
