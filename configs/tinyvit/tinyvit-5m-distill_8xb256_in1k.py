_base_ = [
    './tinyvit-5m_8xb256_in1k.py',
]
