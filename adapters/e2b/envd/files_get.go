package envd

import (
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// download is GET /files (files.read): the file's bytes through
// http.ServeContent, so Range and conditional requests work as with envd.
// A missing file is 404, a directory 400.
func (a *API) download(c *gin.Context) {
	fs, err := a.dp.Files(ctx(c), target(c), c.Query("username"))
	if err != nil {
		a.fail(c, err)
		return
	}
	defer fs.Close()
	f, info, err := fs.Open(ctx(c), c.Query("path"))
	if err != nil {
		a.fail(c, err)
		return
	}
	defer f.Close()
	c.Header("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": info.Name}))
	// The SDKs parse by the format they asked for and ignore the type;
	// sniffing the content would only cost a read.
	c.Header("Content-Type", "application/octet-stream")
	http.ServeContent(c.Writer, c.Request, info.Name, info.ModTime, f)
}
