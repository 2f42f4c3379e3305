package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"go.yaml.in/yaml/v3"
)

// openAPIYAML is the API's OpenAPI 3.1 document, written by hand.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPI returns the API's OpenAPI 3.1 document as JSON: what
// GET {base}/openapi.json serves. Paths are relative to Options.BasePath.
func OpenAPI() ([]byte, error) { return openAPIJSON() }

var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("httpapi: the embedded OpenAPI document: %w", err)
	}
	return json.Marshal(doc)
})

func (h *Handler) openAPI(c *call) error {
	doc, err := OpenAPI()
	if err != nil {
		return err
	}
	hd := c.w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "public, max-age=3600")
	_, err = c.w.Write(doc)
	if err != nil {
		h.log.DebugContext(c.ctx, "httpapi: writing the OpenAPI document", "error", err)
	}
	return nil
}
