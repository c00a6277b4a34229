/* A roster document's values straight from libyaml's events, without a Python object per
 * event: the common case of shiftswitch/roster/yamldoc.py's first pass, in C.
 *
 * load(data, values, depth, text, shallow) reads UTF-8 ``data`` and gives (root, lines):
 * every scalar the text that was typed (a plain null word: None), mappings as dicts, sequences
 * as lists, and ``lines`` the 1-based line of each mapping entry whose mapping lies fewer than
 * ``shallow`` levels deep, by path. It gives None for everything else, and the Python reader
 * then reads the document and says what is wrong: a syntax error, anchors and aliases, tags,
 * a key that is not a scalar, a duplicate key, a second document, an empty one, or a document
 * past the limits (``values`` in all, ``depth`` of nesting, ``text`` characters in a value).
 * The events are libyaml's, as PyYAML's C parser gives them: the values are the same.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <yaml.h>

typedef struct {
    PyObject *value; /* the list or dict being read (a new reference) */
    PyObject *path;  /* its path, a tuple; NULL below the depth whose lines are kept */
    PyObject *key;   /* a dict's key whose value comes next, or NULL */
    long key_line;
} Frame;

typedef struct {
    Frame *frames;
    Py_ssize_t size;
    Py_ssize_t total;      /* values so far (keys counted) */
    Py_ssize_t max_values;
    Py_ssize_t max_depth;
    Py_ssize_t max_text;
    Py_ssize_t shallow;
    PyObject *lines;       /* dict: path -> line */
    PyObject *keys;        /* dict: each key's text once */
} Reader;

/* The deepest nesting this reader takes (libyaml 0.2.6 refuses more than 1,000 levels). */
#define MAX_DEPTH 1000

/* The outcome of a step: go on, the document is not for this reader, or Python has an error. */
enum { GO = 0, DECLINE = 1, FAILED = -1 };

static int is_null(const yaml_event_t *event) {
    const char *s = (const char *)event->data.scalar.value;
    size_t n = event->data.scalar.length;
    if (event->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return 0;
    }
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
                       memcmp(s, "NULL", 4) == 0));
}

static Py_ssize_t characters(const char *s, size_t n) {
    Py_ssize_t count = 0;
    for (size_t i = 0; i < n; i++) {
        count += ((unsigned char)s[i] & 0xC0) != 0x80; /* not a continuation byte */
    }
    return count;
}

/* Put a complete value into the open collection on top (as its next key, when one is due).
 * Steals ``value``; ``text`` is the scalar's text (a borrowed reference) or NULL. */
static int place(Reader *r, PyObject *value, PyObject *text, long line) {
    Frame *top = &r->frames[r->size - 1];
    if (PyList_CheckExact(top->value)) {
        int failed = PyList_Append(top->value, value);
        Py_DECREF(value);
        return failed ? FAILED : GO;
    }
    if (top->key == NULL) {
        Py_DECREF(value);
        if (text == NULL) {
            return DECLINE; /* a key that is not a scalar */
        }
        PyObject *key = PyDict_SetDefault(r->keys, text, text); /* borrowed */
        if (key == NULL) {
            return FAILED;
        }
        int found = PyDict_Contains(top->value, key);
        if (found != 0) {
            return found < 0 ? FAILED : DECLINE; /* a duplicate key */
        }
        Py_INCREF(key);
        top->key = key;
        top->key_line = line;
        return GO;
    }
    PyObject *key = top->key;
    top->key = NULL;
    int failed = PyDict_SetItem(top->value, key, value);
    Py_DECREF(value);
    if (!failed && top->path != NULL && PyTuple_GET_SIZE(top->path) < r->shallow) {
        PyObject *path = PyTuple_New(PyTuple_GET_SIZE(top->path) + 1);
        PyObject *number = PyLong_FromLong(top->key_line);
        if (path == NULL || number == NULL) {
            Py_XDECREF(path);
            Py_XDECREF(number);
            Py_DECREF(key);
            return FAILED;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(top->path); i++) {
            PyObject *part = PyTuple_GET_ITEM(top->path, i);
            Py_INCREF(part);
            PyTuple_SET_ITEM(path, i, part);
        }
        PyTuple_SET_ITEM(path, PyTuple_GET_SIZE(top->path), key); /* takes our reference */
        failed = PyDict_SetItem(r->lines, path, number);
        Py_DECREF(path);
        Py_DECREF(number);
        return failed ? FAILED : GO;
    }
    Py_DECREF(key);
    return failed ? FAILED : GO;
}

/* Open a sequence or mapping at the place of the next value. */
static int open_collection(Reader *r, int mapping) {
    if (r->size >= r->max_depth) {
        return DECLINE;
    }
    PyObject *path = NULL;
    if (r->size == 0) {
        path = PyTuple_New(0);
    } else {
        Frame *top = &r->frames[r->size - 1];
        if (top->path != NULL && PyTuple_GET_SIZE(top->path) < r->shallow) {
            PyObject *part;
            if (PyList_CheckExact(top->value)) {
                part = PyLong_FromSsize_t(PyList_GET_SIZE(top->value));
            } else if (top->key != NULL) {
                part = top->key;
                Py_INCREF(part);
            } else {
                return DECLINE; /* a collection as a key */
            }
            if (part == NULL) {
                return FAILED;
            }
            Py_ssize_t n = PyTuple_GET_SIZE(top->path);
            path = PyTuple_New(n + 1);
            if (path == NULL) {
                Py_DECREF(part);
                return FAILED;
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *item = PyTuple_GET_ITEM(top->path, i);
                Py_INCREF(item);
                PyTuple_SET_ITEM(path, i, item);
            }
            PyTuple_SET_ITEM(path, n, part);
        } else if (!PyList_CheckExact(top->value) && top->key == NULL) {
            return DECLINE; /* a collection as a key */
        }
    }
    if (r->size == 0 && path == NULL) {
        return FAILED;
    }
    PyObject *value = mapping ? PyDict_New() : PyList_New(0);
    if (value == NULL) {
        Py_XDECREF(path);
        return FAILED;
    }
    Frame *frame = &r->frames[r->size++];
    frame->value = value;
    frame->path = path;
    frame->key = NULL;
    frame->key_line = 0;
    return GO;
}

static int count(Reader *r) {
    return ++r->total > r->max_values ? DECLINE : GO;
}

/* Read the root value; on GO, ``*root`` holds it. */
static int read_root(Reader *r, yaml_parser_t *parser, PyObject **root) {
    yaml_event_t event;
    for (;;) {
        if (!yaml_parser_parse(parser, &event)) {
            return DECLINE; /* a syntax error: the Python reader names it */
        }
        int outcome = GO;
        PyObject *value = NULL, *text = NULL;
        long line = (long)event.start_mark.line + 1;
        switch (event.type) {
        case YAML_SCALAR_EVENT: {
            if (event.data.scalar.anchor != NULL || event.data.scalar.tag != NULL) {
                outcome = DECLINE;
                break;
            }
            outcome = count(r);
            if (outcome != GO) {
                break;
            }
            const char *s = (const char *)event.data.scalar.value;
            size_t n = event.data.scalar.length;
            if ((Py_ssize_t)n > r->max_text && characters(s, n) > r->max_text) {
                outcome = DECLINE;
                break;
            }
            text = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, NULL);
            if (text == NULL) {
                outcome = FAILED;
                break;
            }
            if (is_null(&event)) {
                value = Py_None;
                Py_INCREF(value);
            } else {
                value = text;
                Py_INCREF(value);
            }
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const yaml_char_t *anchor = event.type == YAML_MAPPING_START_EVENT
                                            ? event.data.mapping_start.anchor
                                            : event.data.sequence_start.anchor;
            const yaml_char_t *tag = event.type == YAML_MAPPING_START_EVENT
                                         ? event.data.mapping_start.tag
                                         : event.data.sequence_start.tag;
            if (anchor != NULL || tag != NULL) {
                outcome = DECLINE;
                break;
            }
            outcome = count(r);
            if (outcome == GO) {
                outcome = open_collection(r, event.type == YAML_MAPPING_START_EVENT);
            }
            yaml_event_delete(&event);
            if (outcome != GO) {
                return outcome;
            }
            continue;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            if (r->size == 0) { /* never from libyaml, whose events are balanced */
                outcome = DECLINE;
                break;
            }
            Frame *frame = &r->frames[--r->size];
            value = frame->value;
            Py_XDECREF(frame->path);
            Py_XDECREF(frame->key);
            break;
        }
        default: /* an alias, or an event a root value cannot hold */
            outcome = DECLINE;
        }
        yaml_event_delete(&event);
        if (outcome != GO) {
            Py_XDECREF(text);
            Py_XDECREF(value);
            return outcome;
        }
        if (r->size == 0) {
            Py_XDECREF(text);
            *root = value;
            return GO;
        }
        outcome = place(r, value, text, line);
        Py_XDECREF(text);
        if (outcome != GO) {
            return outcome;
        }
    }
}

/* The next event is of ``type``: GO, else DECLINE. */
static int expect(yaml_parser_t *parser, yaml_event_type_t type) {
    yaml_event_t event;
    if (!yaml_parser_parse(parser, &event)) {
        return DECLINE;
    }
    int outcome = event.type == type ? GO : DECLINE;
    yaml_event_delete(&event);
    return outcome;
}

static PyObject *load(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer data;
    Reader r = {0};
    if (!PyArg_ParseTuple(args, "y*nnnn", &data, &r.max_values, &r.max_depth, &r.max_text,
                          &r.shallow)) {
        return NULL;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    /* The encoding is left for libyaml to find, as PyYAML leaves it: a byte-order mark is
     * then taken as one, not as a character before the first key. */
    yaml_parser_set_input_string(&parser, data.buf, (size_t)data.len);
    PyObject *root = NULL, *result = NULL;
    if (r.max_depth < 1 || r.max_depth > MAX_DEPTH) {
        yaml_parser_delete(&parser);
        PyBuffer_Release(&data);
        PyErr_Format(PyExc_ValueError, "depth must be from 1 to %d", MAX_DEPTH);
        return NULL;
    }
    r.frames = PyMem_Calloc((size_t)r.max_depth, sizeof(Frame));
    r.lines = PyDict_New();
    r.keys = PyDict_New();
    if (r.frames == NULL) {
        PyErr_NoMemory();
    }
    int outcome = r.frames && r.lines && r.keys ? GO : FAILED;
    if (outcome == GO) {
        outcome = expect(&parser, YAML_STREAM_START_EVENT);
    }
    if (outcome == GO) {
        outcome = expect(&parser, YAML_DOCUMENT_START_EVENT); /* an empty stream: declined */
    }
    if (outcome == GO) {
        outcome = read_root(&r, &parser, &root);
    }
    if (outcome == GO) {
        outcome = expect(&parser, YAML_DOCUMENT_END_EVENT);
    }
    if (outcome == GO) {
        outcome = expect(&parser, YAML_STREAM_END_EVENT); /* else a second document */
    }
    if (outcome == GO) {
        result = PyTuple_Pack(2, root, r.lines);
    } else if (outcome == DECLINE) {
        result = Py_None;
        Py_INCREF(result);
    }
    if (PyErr_Occurred() && result == Py_None) {
        Py_CLEAR(result); /* never hide Python's own error (memory) behind a decline */
    }
    Py_XDECREF(root);
    while (r.size > 0) {
        Frame *frame = &r.frames[--r.size];
        Py_XDECREF(frame->value);
        Py_XDECREF(frame->path);
        Py_XDECREF(frame->key);
    }
    PyMem_Free(r.frames);
    Py_XDECREF(r.lines);
    Py_XDECREF(r.keys);
    yaml_parser_delete(&parser);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"load", load, METH_VARARGS,
     "load(data, values, depth, text, shallow) -> (root, lines), or None: read it in Python."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fastyaml",
    .m_doc = "A roster document's values straight from libyaml (see shiftswitch/roster/yamldoc.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fastyaml(void) { return PyModule_Create(&module); }
