//go:build tools

// Package tools pins modules that only the old-Sarama build imports (via -overlay).
package tools

import _ "github.com/Shopify/sarama"
