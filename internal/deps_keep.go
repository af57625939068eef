//go:build tools

// This file pins modules that packages still being written will import, so
// that parallel work does not race on go.mod. Remove entries as real imports
// appear.
package internal

import (
	_ "github.com/Shopify/toxiproxy/v2"
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/google/uuid"
	_ "github.com/hibiken/asynq"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/rs/zerolog"
	_ "github.com/sony/gobreaker/v2"
	_ "go.uber.org/goleak"
	_ "sigs.k8s.io/yaml"
)
