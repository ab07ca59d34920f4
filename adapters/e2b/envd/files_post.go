package envd

import (
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// writtenFile is one entry of POST /files' answer.
type writtenFile struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Path string `json:"path"`
}

// upload is POST /files (files.write): multipart/form-data with one "file"
// part per file, or an application/octet-stream body for query path. Each
// file is streamed to core as it arrives, never held whole. The answer
// lists the written files; the SDKs throw on an empty list.
func (a *API) upload(c *gin.Context) {
	body, err := uploadBody(c.Request)
	if err != nil {
		a.fail(c, err)
		return
	}
	defer body.Close()
	fs, err := a.dp.Files(ctx(c), target(c), c.Query("username"))
	if err != nil {
		a.fail(c, err)
		return
	}
	defer fs.Close()
	mt, params, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var written []writtenFile
	switch {
	case mt == "application/octet-stream":
		written, err = a.uploadRaw(c, fs, body)
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "":
		written, err = a.uploadParts(c, fs, multipart.NewReader(body, params["boundary"]))
	default:
		err = core.Errorf(core.ErrInvalidArgument, "unsupported content type %q: expected multipart/form-data or application/octet-stream", c.GetHeader("Content-Type"))
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, written)
}

// uploadBody is the request body, gunzipped when Content-Encoding says so.
func uploadBody(r *http.Request) (io.ReadCloser, error) {
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return r.Body, nil
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, core.WithCause(core.ErrInvalidArgument, err, "the body is not gzip data")
		}
		return zr, nil
	default:
		return nil, core.Errorf(core.ErrInvalidArgument, "unsupported Content-Encoding %q: use gzip or none", enc)
	}
}

func (a *API) uploadRaw(c *gin.Context, fs *core.Files, body io.Reader) ([]writtenFile, error) {
	path := c.Query("path")
	if path == "" {
		return nil, core.Errorf(core.ErrInvalidArgument, "the path query parameter is required for an application/octet-stream upload")
	}
	info, err := fs.Write(ctx(c), path, body)
	if err != nil {
		return nil, err
	}
	return []writtenFile{{Name: info.Name, Type: "file", Path: info.Path}}, nil
}

// uploadParts writes every "file" part: to query path when given (one
// file), else to the part's filename, which carries the whole path.
// Parts with other names are skipped, as envd does; two parts for the same
// file are refused (the first one is written by then, as with envd).
func (a *API) uploadParts(c *gin.Context, fs *core.Files, mr *multipart.Reader) ([]writtenFile, error) {
	var written []writtenFile
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, core.WithCause(core.ErrInvalidArgument, err, "malformed multipart body")
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		path := c.Query("path")
		if path == "" {
			if path, err = partPath(part); err != nil {
				return nil, err
			}
		}
		abs, err := fs.Resolve(path)
		if err != nil {
			return nil, err
		}
		if seen[abs] {
			return nil, core.Errorf(core.ErrInvalidArgument, "you cannot upload multiple files to the same path '%s' in one upload request", abs)
		}
		seen[abs] = true
		info, err := fs.Write(ctx(c), abs, part)
		part.Close()
		if err != nil {
			return nil, err
		}
		written = append(written, writtenFile{Name: info.Name, Type: "file", Path: info.Path})
	}
	if len(written) == 0 {
		return nil, core.Errorf(core.ErrInvalidArgument, "the multipart body has no \"file\" part")
	}
	return written, nil
}

// partPath is the filename of a part's Content-Disposition as sent: the
// SDKs put the target path there, which multipart.Part.FileName would cut
// to its last element.
func partPath(part *multipart.Part) (string, error) {
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil || params["filename"] == "" {
		return "", core.Errorf(core.ErrInvalidArgument, "a \"file\" part has no filename and no path query parameter was given")
	}
	return params["filename"], nil
}
